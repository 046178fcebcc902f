"""One fine-tuning step (forward + backward + Adam) of a classifier with and without XLA, in one process.

    python -m experiments.bench_xla_step [--preset koelectra-small-v3] [--batch 32] [--width 32] [--repeats 25]

Rows are random ids of lengths drawn from [width/2 + 1, width] (as in one length bucket); the same batch and
weights for every variant. Variants: TensorFlow's graph with `skip_padding` (our fine-tuning without XLA), the
same with the padding kept, and `jit_compile` (which must keep it), with and without dropout. Prints the first
call (tracing, and compiling under XLA) and the median step. Explains the `--jit_compile` rows of
`bench_finetuning_real.py` on a CPU.
"""

import argparse

import keras
import numpy as np
import tensorflow as tf

from bench.common import print_table, time_call
from electra_tf.config import ElectraConfig
from electra_tf.models import build_model

VARIANTS = {  # name: (dropout, skip_padding, jit_compile)
    "graph, skip_padding (fine-tuning without XLA)": (True, True, False),
    "graph, padding kept": (True, False, False),
    "jit_compile (fine-tuning with --jit_compile)": (True, False, True),
    "graph, padding kept, no dropout": (False, False, False),
    "jit_compile, no dropout": (False, False, True),
}


def batch_of(args):
    rng = np.random.default_rng(0)
    ids = np.zeros([args.batch, args.width], np.int32)
    mask = np.zeros_like(ids)
    for row, length in enumerate(rng.integers(args.width // 2 + 1, args.width + 1, args.batch)):
        ids[row, :length] = rng.integers(5, 30000, length)
        mask[row, :length] = 1
    inputs = {"input_ids": tf.constant(ids), "attention_mask": tf.constant(mask),
              "token_type_ids": tf.zeros_like(tf.constant(ids))}
    return inputs, tf.constant(rng.integers(0, 2, args.batch))


def training_step(args, dropout, skip_padding, jit_compile):
    overrides = {} if dropout else dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config = ElectraConfig.from_preset(args.preset, vocab_size=35000, **overrides).with_labels(["0", "1"])
    keras.utils.set_random_seed(0)
    model = build_model(config, "sequence_classification")
    model.electra.skip_padding = skip_padding
    optimizer = keras.optimizers.Adam(1e-5)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit_compile)
    def gradients(inputs, labels):
        with tf.GradientTape() as tape:
            logits = model(inputs, training=True)["logits"]
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        return tape.gradient(loss, model.trainable_variables)

    @tf.function
    def step(inputs, labels):
        optimizer.apply_gradients(zip(gradients(inputs, labels), model.trainable_variables))

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="koelectra-small-v3")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()
    inputs, labels = batch_of(args)
    rows = []
    for name, settings in VARIANTS.items():
        step = training_step(args, *settings)
        first = time_call(lambda: step(inputs, labels), warmup=0, repeats=1)  # tracing (+ compiling)
        median = time_call(lambda: step(inputs, labels), warmup=3, repeats=args.repeats)
        rows.append({"variant": name, "first call s": f"{first:.2f}", "step ms": f"{median * 1000:.1f}"})
    print_table(f"One training step, {args.preset}, batch {args.batch} x {args.width}, median of {args.repeats}",
                rows, ["variant", "first call s", "step ms"])


if __name__ == "__main__":
    main()
