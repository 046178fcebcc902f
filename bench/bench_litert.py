"""Raw-text inference on a device-style runtime: the LiteRT `.tflite` (`--format litert`, float32 and
`dynamic_int8`) against the SavedModel's `predict_text`, on the same weights, in one process.

At batch 1 (one request = one text drawn from `--texts`, default the sample corpus) the three take turns request
by request; p50/p95 latency per request, the model size on disk, and how far each LiteRT model's probabilities
and labels are from the SavedModel's. The LiteRT model pads every text to `--max_length`; the SavedModel pads a
request to its longest row rounded up to 16 (so short texts cost it less).

Run: `python -m bench.bench_litert [--preset koelectra-small-v3] [--texts reviews.txt] [--requests 100]`.
"""

import argparse
import os
import tempfile
import time

import numpy as np
import tensorflow as tf

from bench.bench_serving import read_texts
from bench.common import ROOT, print_table

SAVED_MODEL = "SavedModel predict_text (TensorFlow)"
LITE = "LiteRT .tflite, float32"
LITE_INT8 = "LiteRT .tflite, dynamic_int8"


def directory_bytes(path):
    """Total size of the files under `path`."""
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def latency_rows(systems, texts, requests, seed=0):
    """``{name: (p50 ms, p95 ms)}``: each system timed on the same `requests` single-text requests, taking
    turns request by request (who goes first rotates)."""
    rng = np.random.default_rng(seed)
    chosen = [texts[index] for index in rng.integers(0, len(texts), requests)]
    times = {name: [] for name in systems}
    names = list(systems)
    for index, text in enumerate(chosen):
        for name in names[index % len(names):] + names[:index % len(names)]:
            start = time.perf_counter()
            systems[name]([text])
            times[name].append(1000 * (time.perf_counter() - start))
    return {name: (float(np.percentile(values, 50)), float(np.percentile(values, 95)))
            for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="koelectra-small-v3")
    parser.add_argument("--vocab", default=os.path.join(ROOT, "data", "sample_vocab", "vocab.txt"))
    parser.add_argument("--texts", default=os.path.join(ROOT, "data", "sample_corpus.txt"))
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--max_length", type=int, default=128)
    args = parser.parse_args()

    import keras
    import tensorflow_text  # noqa: F401  (the SavedModel's ops)

    from electra_tf import litert
    from electra_tf.config import ElectraConfig
    from electra_tf.models import build_model
    from electra_tf.serving import export_saved_model
    from electra_tf.tokenization import load_vocab

    keras.utils.set_random_seed(0)
    config = ElectraConfig.from_preset(args.preset, vocab_size=len(load_vocab(args.vocab))).with_labels(["0", "1"])
    model = build_model(config, "sequence_classification")
    texts = read_texts(args.texts)
    with tempfile.TemporaryDirectory() as directory:
        saved_dir = export_saved_model(model, os.path.join(directory, "serving"), args.vocab,
                                       max_length=args.max_length)
        saved = tf.saved_model.load(saved_dir).signatures["predict_text"]
        paths = {LITE: litert.export_litert(model, os.path.join(directory, "f32"), args.vocab, args.max_length),
                 LITE_INT8: litert.export_litert(model, os.path.join(directory, "int8"), args.vocab,
                                                 args.max_length, quantize="dynamic_int8")}
        sizes = {SAVED_MODEL: directory_bytes(saved_dir),
                 **{name: os.path.getsize(path) for name, path in paths.items()}}
        interpreters = {name: litert.interpreter(path) for name, path in paths.items()}

        def run_saved(batch):
            return {name: value.numpy() for name, value in saved(text=tf.constant(batch)).items()}

        systems = {SAVED_MODEL: run_saved}
        for name, runner in interpreters.items():
            systems[name] = lambda batch, runner=runner: litert.predict(runner, batch)
        sample = texts[:200]
        reference = run_saved(sample)
        agreement = {}
        for name in interpreters:
            outputs = systems[name](sample)
            agreement[name] = (float(np.abs(outputs["probabilities"] - reference["probabilities"]).max()),
                               float(np.mean(outputs["label_ids"] == reference["label_ids"])))
        for system in systems.values():  # warm up
            system(texts[:1])
        latency = latency_rows(systems, texts, args.requests)
    base_p50 = latency[SAVED_MODEL][0]
    rows = []
    for name in systems:
        p50, p95 = latency[name]
        difference, same = agreement.get(name, (0.0, 1.0))
        rows.append({"system": name, "size": f"{sizes[name] / 2 ** 20:.1f} MiB",
                     "size vs SavedModel": f"{sizes[name] / sizes[SAVED_MODEL]:.2f}×",
                     "batch 1 p50 / p95": f"{p50:.1f} / {p95:.1f} ms",
                     "speed vs SavedModel (p50)": f"{base_p50 / p50:.2f}×",
                     "max prob diff / same labels": f"{difference:.1e} / {same:.1%}"})
    print_table(f"{args.preset}, random init, {len(load_vocab(args.vocab))} tokens, max_length {args.max_length}, "
                f"{args.requests} requests of one text", rows, list(rows[0]))


if __name__ == "__main__":
    main()
