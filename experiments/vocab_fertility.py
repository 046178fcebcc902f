"""Pieces per word and [UNK]s per word of text under vocabularies, tokenized by transformers' ElectraTokenizer
(what users of an export get): how much a domain extension shortens the domain's token sequences.

    python -m experiments.vocab_fertility --text held_out.txt --vocab released=OLD/vocab.txt \
        --vocab extended=W/extend/vocab.txt
"""

import argparse


def fertility(tokenizer, lines):
    """`(pieces per word, [UNK] per word)` of `lines` (whitespace-separated words)."""
    pieces = [tokenizer.tokenize(line) for line in lines]
    words = sum(len(line.split()) for line in lines)
    return sum(map(len, pieces)) / words, sum(piece == tokenizer.unk_token for row in pieces for piece in row) / words


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", required=True, help="one sentence per line")
    parser.add_argument("--vocab", action="append", required=True, help="NAME=vocab.txt (repeatable)")
    args = parser.parse_args()
    from transformers import ElectraTokenizer

    with open(args.text, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip()]
    print(f"| vocabulary | tokens | pieces per word | [UNK] per word |  ({len(lines):,} lines of {args.text})")
    print("|---|---|---|---|")
    for name, path in (spec.split("=", 1) for spec in args.vocab):
        tokenizer = ElectraTokenizer(path, do_lower_case=False)
        pieces, unknown = fertility(tokenizer, lines)
        print(f"| {name} | {len(tokenizer):,} | {pieces:.3f} | {unknown:.4f} |")


if __name__ == "__main__":
    main()
