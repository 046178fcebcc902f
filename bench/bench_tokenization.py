"""Tokenization throughput (MB/s of UTF-8 Korean text) and vocabulary-building time.

Same text, same run: the in-graph tokenizer inside `tf.data` (batched map), `FastTokenizer` (Rust batch
path) and `transformers.ElectraTokenizer` (slow, pure Python), all producing padded model inputs
(max_length 128) from the sample vocab; then `build_vocab` on the sample corpus and on a generated corpus
(default 50 MB), each without a pre-tokenizer against its peer measured right after it on the same file:
`tokenizers.BertWordPieceTokenizer.train` as KoELECTRA trained its vocabularies (same size, min_frequency and
alphabet limit). Everything is written to a temporary directory.
Run: `python -m bench.bench_tokenization [--megabytes 2] [--vocab_megabytes 50] [--vocab_size 32000]`.
"""

import argparse
import os
import random
import tempfile
import time

from bench.common import ROOT, print_table, train_peer_vocab

SAMPLE_CORPUS = os.path.join(ROOT, "data", "sample_corpus.txt")
SAMPLE_VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")


def sample_lines():
    with open(SAMPLE_CORPUS, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def benchmark_text(megabytes, seed=0):
    """Sample-corpus lines, shuffled and repeated up to `megabytes` of UTF-8."""
    rng, lines, output, size = random.Random(seed), sample_lines(), [], 0
    while size < megabytes * 1e6:
        line = rng.choice(lines)
        output.append(line)
        size += len(line.encode("utf-8")) + 1
    return output, size


def generated_corpus(path, megabytes, seed=0):
    """Writes lines of pseudo-words: Zipf-weighted syllable strings from the sample corpus, plus
    its own words and punctuation, with blank lines between documents."""
    rng = random.Random(seed)
    words = " ".join(sample_lines()).split()
    syllables = sorted({char for word in words for char in word if "가" <= char <= "힣"})
    weights = [1.0 / (rank + 1) for rank in range(len(syllables))]
    endings = ["", "", "는", "가", "를", "에서", "했다", "입니다", "요", ".", ",", "!"]
    size = 0
    with open(path, "w", encoding="utf-8") as handle:
        while size < megabytes * 1e6:
            line_words = [rng.choice(words) if rng.random() < 0.5 else
                          "".join(rng.choices(syllables, weights, k=rng.randint(1, 4))) + rng.choice(endings)
                          for _ in range(rng.randint(4, 16))]
            line = " ".join(line_words) + ("\n\n" if rng.random() < 0.1 else "\n")
            handle.write(line)
            size += len(line.encode("utf-8"))
    return size


def time_tokenizers(lines, size, max_length, batch_size):
    import tensorflow as tf
    from transformers import ElectraTokenizer

    from electra_tf.tokenization import FastTokenizer, InGraphTokenizer

    layer = InGraphTokenizer(SAMPLE_VOCAB, max_length=max_length)
    fast = FastTokenizer.from_vocab_file(SAMPLE_VOCAB)
    slow = ElectraTokenizer(SAMPLE_VOCAB, do_lower_case=False)
    dataset = (tf.data.Dataset.from_tensor_slices(lines).batch(batch_size)
               .map(layer, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))

    def run_in_graph():
        for batch in dataset:
            pass
        return batch

    def run_fast():
        for start in range(0, len(lines), batch_size):
            fast.encode_batch_for_model(lines[start: start + batch_size], max_length=max_length)

    def run_slow():
        for start in range(0, len(lines), batch_size):
            slow(lines[start: start + batch_size], truncation=True, max_length=max_length, padding="max_length")

    for run in (run_in_graph, run_fast):  # warm-up (tracing, thread pools)
        run()
    rows = []
    for name, run in [("in-graph (tf-text) in tf.data", run_in_graph), ("FastTokenizer (tokenizers, Rust)", run_fast),
                      ("transformers.ElectraTokenizer (slow)", run_slow)]:
        start = time.perf_counter()
        run()
        seconds = time.perf_counter() - start
        rows.append({"tokenizer": name, "seconds": f"{seconds:.2f}", "MB/s": size / 1e6 / seconds})
    slow_rate = rows[-1]["MB/s"]
    for row in rows:
        row["× slow"] = f"{row['MB/s'] / slow_rate:.1f}"
        row["MB/s"] = f"{row['MB/s']:.2f}"
    return rows


PEER_VOCAB = "tokenizers BertWordPieceTokenizer.train (peer)"


def time_vocab(directory, vocab_megabytes, vocab_size):
    from electra_tf.vocab import build_vocab

    rows = []
    big = os.path.join(directory, "generated.txt")
    big_size = generated_corpus(big, vocab_megabytes)
    jobs = [("sample corpus", SAMPLE_CORPUS, os.path.getsize(SAMPLE_CORPUS), 2000, "none"),
            ("sample corpus", SAMPLE_CORPUS, os.path.getsize(SAMPLE_CORPUS), 1700, "mecab"),
            ("sample corpus", SAMPLE_CORPUS, os.path.getsize(SAMPLE_CORPUS), 1700, "kiwi"),
            (f"generated {vocab_megabytes} MB", big, big_size, vocab_size, "none")]
    for name, path, size, target, pretokenizer in jobs:
        start = time.perf_counter()
        tokens = build_vocab(path, os.path.join(directory, f"vocab-{len(rows)}"), vocab_size=target,
                             pretokenizer=pretokenizer, show_progress=False)
        seconds = time.perf_counter() - start
        rows.append({"builder": "electra_tf build_vocab", "corpus": name, "MB": f"{size / 1e6:.2f}",
                     "pretokenizer": pretokenizer, "vocab": len(tokens), "seconds": f"{seconds:.1f}",
                     "MB/s": f"{size / 1e6 / seconds:.2f}"})
        if pretokenizer == "none":  # the same training without our reading, cleaning and alphabet planning
            start = time.perf_counter()
            peer_file = train_peer_vocab(path, os.path.join(directory, f"vocab-{len(rows)}"), target)
            peer_seconds = time.perf_counter() - start
            with open(peer_file, encoding="utf-8") as handle:
                peer_tokens = sum(1 for _ in handle)
            rows[-1]["× peer"] = f"{peer_seconds / seconds:.2f}"
            rows.append({"builder": PEER_VOCAB, "corpus": name, "MB": f"{size / 1e6:.2f}", "pretokenizer": "none",
                         "vocab": peer_tokens, "seconds": f"{peer_seconds:.1f}",
                         "MB/s": f"{size / 1e6 / peer_seconds:.2f}", "× peer": "1.00"})
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=2.0, help="text size for the tokenizer timings")
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--vocab_megabytes", type=float, default=50.0)
    parser.add_argument("--vocab_size", type=int, default=32000)
    args = parser.parse_args()

    lines, size = benchmark_text(args.megabytes)
    print(f"{len(lines)} lines, {size / 1e6:.2f} MB UTF-8, max_length {args.max_length}, batch {args.batch_size}, "
          f"{os.cpu_count()} CPUs")
    print_table("Tokenization throughput (same text, same run)",
                time_tokenizers(lines, size, args.max_length, args.batch_size),
                ["tokenizer", "seconds", "MB/s", "× slow"])
    with tempfile.TemporaryDirectory() as directory:
        print_table("Vocabulary building (build_vocab vs tokenizers' trainer on the same file; × peer = peer "
                    "seconds / ours)", time_vocab(directory, args.vocab_megabytes, args.vocab_size),
                    ["builder", "corpus", "MB", "pretokenizer", "vocab", "seconds", "MB/s", "× peer"])


if __name__ == "__main__":
    main()
