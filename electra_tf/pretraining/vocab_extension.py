"""Vocabulary extension for continued pre-training (`--extend_vocab`): the released vocabulary with new tokens
appended (every old id kept), and the word-embedding rows and generator output-bias entries that grow with it.

A new token's row starts as the mean of the old rows of the pieces the OLD vocabulary's WordPiece tokenizer splits
it into; a ``##`` continuation token is split without its ``##`` (as if it began a word); a token the old
vocabulary turns into ``[UNK]`` only starts as the mean of all old rows. Tokens are added as written: ``##x``
is a continuation piece, ``x`` a word-initial one.

    python -m electra_tf.pretraining.vocab_extension --vocab RELEASED/vocab.txt --extend_vocab FILE \
        --output_dir DIR

writes DIR/vocab.txt (and the tokenizer files), the vocabulary to build the corpus with; pre-training with
``--extend_vocab FILE`` computes the same one.
"""

import numpy as np
from absl import flags

from electra_tf import cli
from electra_tf.tokenization import FastTokenizer, load_vocab, save_wordpiece_files, special_token_ids
from electra_tf.vocab import merge_vocabularies

# The arrays (transformers TF names) with one row per token: the tied word embeddings and the generator's bias.
GROWN_SUFFIXES = ("word_embeddings/weight:0", "generator_lm_head/bias:0")


def extend_vocabulary(old_tokens, extension_file):
    """`old_tokens` followed by the tokens of `extension_file` (a vocab.txt or a list of tokens, one per line)
    they lack, in the file's order; specials, ``[unusedN]``, empty lines and duplicates skipped
    (`vocab.merge_vocabularies`). Returns ``(tokens, report)``."""
    added = [token.strip() for token in load_vocab(extension_file)]
    return merge_vocabularies(old_tokens, [token for token in added if token])


def piece_ids(old_tokens, new_tokens):
    """For each of `new_tokens`, the ids of the pieces the old vocabulary splits it into (``[UNK]`` dropped;
    empty when nothing else is left)."""
    tokenizer = FastTokenizer(old_tokens)
    unk = special_token_ids(old_tokens)["unk"]
    texts = [token[2:] if token.startswith("##") and len(token) > 2 else token for token in new_tokens]
    return [[piece for piece in ids if piece != unk] for ids in tokenizer.encode_batch(texts)]


def grow_arrays(arrays, old_size, pieces, source="--init_checkpoint"):
    """Returns a copy of `arrays` (transformers TF names) whose per-token arrays (`GROWN_SUFFIXES`) have one
    more row per entry of `pieces` (`piece_ids`): the mean of those pieces' rows, or of all old rows when there
    is none. Raises ValueError when such an array does not have `old_size` rows."""
    grown = dict(arrays)
    for name, value in arrays.items():
        if not name.endswith(GROWN_SUFFIXES):
            continue
        value = np.asarray(value)
        if value.shape[0] != old_size:
            raise ValueError(f"{source}: {name} has {value.shape[0]} rows but the vocabulary to extend (--vocab) "
                             f"has {old_size} tokens")
        table = value.astype(np.float64)
        rows = [table[ids].mean(axis=0) if ids else table.mean(axis=0) for ids in pieces]
        grown[name] = np.concatenate([value, np.asarray(rows, dtype=value.dtype).reshape(
            (len(rows),) + value.shape[1:])])
    return grown


def main(argv):
    del argv
    tokens, report = extend_vocabulary(load_vocab(flags.FLAGS.vocab), flags.FLAGS.extend_vocab)
    path = save_wordpiece_files(tokens, flags.FLAGS.output_dir)
    print(f"wrote {path} ({report['trained_tokens']} + {report['added']} tokens)")


if __name__ == "__main__":
    flags.DEFINE_string("vocab", None, "The released vocab.txt.")
    flags.DEFINE_string("extend_vocab", None, "A vocab.txt or a list of tokens (one per line) to append.")
    flags.DEFINE_string("output_dir", None, "Directory for the extended vocab.txt and tokenizer files.")
    flags.mark_flags_as_required(["vocab", "extend_vocab", "output_dir"])
    cli.run(main)
