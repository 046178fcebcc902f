"""Raw-text inference: our SavedModel's `predict_text` (in-graph tensorflow-text tokenization) vs transformers'
fast tokenizer + `TFElectraForSequenceClassification`, on the same weights, in one process.

Two tables:

- fixed length: batch 32 of synthetic sentences, both padded to 128 (`padding="max_length"`); the two alternate
  call by call and medians are compared (`--repeats` rounds).
- real length: requests drawn at random from `--texts` (one text per line, blank lines skipped; default the
  sample corpus), at each of `--batch_sizes`; the SavedModel pads a request to its longest row rounded up to 16,
  transformers to its longest row (`padding=True`). The peer runs at its best: its tokenizer is called once per
  request on the whole batch, and its model through a `tf.function` or eagerly, whichever is faster on the first
  requests (measured at each batch size). The two take turns request by request (who goes first alternates);
  p50/p95 latency per request. Their probabilities are checked to agree. At batch 1 a third row times the
  encoder's matrix products alone on each request's tokens (`matmul_floor`): the part of a request no pipeline
  running these weights through TensorFlow's CPU kernels can avoid, so the peer's p50 over it is the largest
  speed-up any such pipeline could show.

Run: `python -m bench.bench_serving [--preset P] [--texts reviews.txt] [--requests 200]`. NSMC reviews as one
text per line: `tail -n +2 ratings_test.txt | cut -f2 > reviews.txt` (see scripts/make_nsmc.py).
"""

import argparse
import functools
import os
import tempfile
import time

import numpy as np
import tensorflow as tf

from bench.common import ROOT, one_call, print_table, take_turns, time_call
PEER = "transformers fast tokenizer + TFElectraForSequenceClassification"
OURS = "electra_tf SavedModel predict_text (raw strings)"
FLOOR = "the encoder's matrix products alone (same weights, the request's real tokens; see matmul_floor)"


def sentences(count=32, seed=0):
    """Korean review-like sentences of varied length (written for this benchmark)."""
    pieces = ["이 영화는", "배우들의 연기가", "정말", "생각보다", "너무", "훌륭했고", "지루했지만", "음악이 좋았다",
              "다시 보고 싶다", "시간이 아까웠다", "감독의 연출이", "인상적이었다", "결말이 아쉬웠다", "ㅋㅋ", "최고!"]
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(pieces, rng.integers(8, 40))) for _ in range(count)]


def read_texts(path):
    """The non-blank lines of a UTF-8 file, one text each."""
    with tf.io.gfile.GFile(path, "rb") as handle:
        texts = [line.strip() for line in handle.read().decode("utf-8").splitlines()]
    texts = [text for text in texts if text]
    if not texts:
        raise SystemExit(f"error: --texts {path} has no non-blank line")
    return texts


def fixed_length_table(args, serving, forward, tokenizer):
    texts = sentences()

    def transformers_predict():
        inputs = tokenizer(texts, padding="max_length", truncation=True, max_length=args.max_length,
                           return_tensors="tf")
        return tf.nn.softmax(forward(dict(inputs)))

    text_tensor = tf.constant(texts)
    candidates = {OURS: lambda: serving(text=text_tensor)["score"], PEER: transformers_predict}
    for function in candidates.values():
        time_call(function, warmup=2, repeats=1)
    seconds = take_turns({name: functools.partial(one_call, function) for name, function in candidates.items()},
                         args.repeats)
    rows = [{"pipeline": name, "s/batch": f"{value:.3f}", "sentences/s": f"{len(texts) / value:.1f}",
             "ratio vs transformers": f"{seconds[PEER] / value:.2f}x"} for name, value in seconds.items()]
    print_table(f"Raw-text inference, {args.preset}, batch {len(texts)} x {args.max_length}", rows,
                ["pipeline", "s/batch", "sentences/s", "ratio vs transformers"])


def _latency(function, batch):
    """Seconds of one request and its probabilities (on the host)."""
    start = time.perf_counter()
    probabilities = function(batch)
    return time.perf_counter() - start, probabilities


def _percentile(values, q):
    return float(np.percentile(np.asarray(values) * 1000, q))


def matmul_floor(model):
    """A `tf.function` of token ids → the encoder's matrix products alone, as our graph runs them for a classifier
    (every layer's key/value projections on all real tokens; query, output and feed-forward on all of them
    except in the last layer, which computes only [CLS]): no attention, LayerNorm, activation or tokenization.
    Its latency bounds any pipeline that runs this model's weights through TensorFlow's CPU matmul kernels."""
    electra = model.electra
    table = electra.embeddings.word_embeddings
    project = electra.embeddings_project.kernel if electra.embeddings_project is not None else None

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def floor(ids):
        hidden = tf.gather(table, ids)
        if project is not None:
            hidden = tf.matmul(hidden, project)
        for number, layer in enumerate(electra.transformer_layers):
            queries = hidden[:1] if number == len(electra.transformer_layers) - 1 else hidden
            mixed = tf.matmul(queries, layer.query.kernel) + tf.reduce_sum(
                tf.matmul(hidden, layer.key.kernel) + tf.matmul(hidden, layer.value.kernel), axis=0)
            hidden = tf.matmul(mixed, layer.attention_output.kernel)
            hidden = tf.matmul(tf.matmul(hidden, layer.intermediate.kernel), layer.output_dense.kernel) * 1e-3
        return hidden

    return floor


def real_length_rows(args, texts, batch_size, ours, peers, floor=None):
    """p50/p95 per-request latency of ours and of the faster peer variant at one batch size."""
    rng = np.random.default_rng(args.seed + batch_size)
    requests = [list(rng.choice(texts, batch_size, replace=len(texts) < batch_size))
                for _ in range(args.requests + args.warmup)]
    warmup, requests = requests[:args.warmup], requests[args.warmup:]
    for batch in warmup:  # traces, caches; the peer variants are timed here to choose the faster
        reference = ours(batch)
        for variant, peer in peers.items():
            _latency(peer, batch)
            np.testing.assert_allclose(peer(batch), reference, atol=1e-4, err_msg=variant)
    choice = {variant: np.median([_latency(peer, batch)[0] for batch in warmup]) for variant, peer in peers.items()}
    variant = min(choice, key=choice.get)
    peer = peers[variant]
    seconds = {OURS: [], PEER: []}
    candidates = [(OURS, ours), (PEER, peer)]
    if floor is not None:
        seconds[FLOOR] = []
        candidates.append((FLOOR, floor))
        for batch in warmup:
            floor(batch)
    for index, batch in enumerate(requests):
        for name, function in candidates if index % 2 == 0 else candidates[::-1]:
            seconds[name].append(_latency(function, batch)[0])
    p50 = {name: _percentile(values, 50) for name, values in seconds.items()}
    p95 = {name: _percentile(values, 95) for name, values in seconds.items()}
    tried = ", ".join(f"{name} {value * 1000:.1f} ms" for name, value in choice.items())
    names = {OURS: OURS, PEER: f"{PEER}, {variant} (warm-up medians: {tried})", FLOOR: FLOOR}
    return [{"batch": batch_size, "pipeline": names[name], "p50 ms": f"{p50[name]:.1f}",
             "p95 ms": f"{p95[name]:.1f}", "texts/s at p50": f"{batch_size * 1000 / p50[name]:.1f}",
             "ratio p50": f"{p50[PEER] / p50[name]:.2f}x", "ratio p95": f"{p95[PEER] / p95[name]:.2f}x"}
            for name in seconds]


def real_length_table(args, serving, theirs, tokenizer, model):
    texts = read_texts(args.texts)
    lengths = np.asarray([len(ids) for ids in tokenizer(texts[:20000], truncation=True,
                                                         max_length=args.max_length)["input_ids"]])
    signature = [tf.TensorSpec([None, None], tf.int64, name=name)
                 for name in ("input_ids", "attention_mask", "token_type_ids")]
    compiled = tf.function(lambda input_ids, attention_mask, token_type_ids: theirs(
        input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits,
        input_signature=signature)

    def peer_with(forward, batch):
        inputs = tokenizer(batch, padding=True, truncation=True, max_length=args.max_length, return_tensors="np")
        return tf.nn.softmax(forward(**inputs)).numpy()

    peers = {"tf.function": functools.partial(peer_with, compiled),
             "eager": functools.partial(peer_with, lambda **inputs: theirs(**inputs, training=False).logits)}

    def ours(batch):
        return serving(text=tf.constant(batch))["probabilities"].numpy()

    floor_function = matmul_floor(model)

    def floor(batch):  # batch 1 only: one request's ids
        return floor_function(tf.constant(tokenizer(batch[0], truncation=True, max_length=args.max_length)[
            "input_ids"], tf.int32)).numpy()

    rows = []
    for batch_size in args.batch_sizes:
        rows += real_length_rows(args, texts, batch_size, ours, peers, floor if batch_size == 1 else None)
    print_table(f"Raw-text inference at real lengths, {args.preset}, {args.requests} requests per batch size "
                f"from {args.texts} ({len(texts)} texts; tokens with [CLS]/[SEP]: mean {lengths.mean():.1f}, "
                f"p95 {np.percentile(lengths, 95):.0f}, max {args.max_length})", rows,
                ["batch", "pipeline", "p50 ms", "p95 ms", "texts/s at p50", "ratio p50", "ratio p95"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="koelectra-small-v3")
    parser.add_argument("--vocab", default=os.path.join(ROOT, "data", "sample_vocab", "vocab.txt"))
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10, help="Rounds of the fixed-length table.")
    parser.add_argument("--texts", default=os.path.join(ROOT, "data", "sample_corpus.txt"),
                        help="One text per line for the real-length table.")
    parser.add_argument("--batch_sizes", type=lambda value: [int(size) for size in value.split(",")],
                        default=[32, 1])
    parser.add_argument("--requests", type=int, default=200, help="Timed requests per batch size.")
    parser.add_argument("--warmup", type=int, default=10, help="Untimed requests per batch size (choose the peer).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tables", default="fixed,real", help="Which tables: fixed, real or both.")
    args = parser.parse_args()

    import tensorflow_text  # noqa: F401
    import transformers

    from electra_tf.config import ElectraConfig
    from electra_tf.export import export_transformers
    from electra_tf.models import build_model
    from electra_tf.serving import export_saved_model
    from electra_tf.tokenization import load_vocab

    config = ElectraConfig.from_preset(args.preset, vocab_size=len(load_vocab(args.vocab))).with_labels(
        ["부정", "긍정"])
    model = build_model(config, "sequence_classification")
    with tempfile.TemporaryDirectory() as directory:
        export_transformers(model, os.path.join(directory, "hf"), vocab_file=args.vocab)
        saved = export_saved_model(model, os.path.join(directory, "serving"), args.vocab,
                                   max_length=args.max_length)
        serving = tf.saved_model.load(saved).signatures["predict_text"]
        theirs = transformers.TFElectraForSequenceClassification.from_pretrained(os.path.join(directory, "hf"))
        tokenizer = transformers.AutoTokenizer.from_pretrained(os.path.join(directory, "hf"), use_fast=True)
    tables = args.tables.split(",")
    if "fixed" in tables:
        fixed_length_table(args, serving, tf.function(lambda inputs: theirs(inputs).logits), tokenizer)
    if "real" in tables:
        real_length_table(args, serving, theirs, tokenizer, model)


if __name__ == "__main__":
    main()
