"""Where a training step's time goes: forward + backward of the sequence classifier (koelectra-small-v3,
batch 32 x 128, dropout on) in four variants on the same weights and batch, taking turns in one process:

- as shipped (last layer at the first token only, 16-bit dropout masks);
- last layer over every position (``output_positions`` off);
- Keras' own `keras.layers.Dropout` (one float per element) instead of `electra_tf.dropout.Dropout`;
- no dropout at all (the floor for dropout's cost).

Run from the checkout: `python -m experiments.bench_training_parts [--rounds 6]`.
"""

import argparse
import functools

import numpy as np
import tensorflow as tf

from bench.common import one_call, print_table, take_turns, time_call


def _build(config, dropout_class=None):
    """The classifier, optionally with another dropout layer class in the encoder and heads."""
    import electra_tf.encoder
    import electra_tf.heads
    from electra_tf.models import build_model

    shipped = electra_tf.encoder.Dropout
    if dropout_class is not None:
        electra_tf.encoder.Dropout = electra_tf.heads.Dropout = dropout_class
    try:
        return build_model(config, "sequence_classification")
    finally:
        electra_tf.encoder.Dropout = electra_tf.heads.Dropout = shipped


def _forward_backward(model, all_positions):
    def step(inputs):
        with tf.GradientTape() as tape:
            positions = None if all_positions else model.output_positions(inputs)
            hidden = model.electra(inputs, training=True, output_positions=positions)
            loss = tf.reduce_sum(model.head(hidden, training=True))
        return tf.linalg.global_norm(tape.gradient(loss, model.trainable_variables))

    return tf.function(step)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="koelectra-small-v3")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()

    import keras

    from electra_tf.config import ElectraConfig

    config = ElectraConfig.from_preset(args.preset).with_labels(["0", "1"])
    no_dropout = config.replace(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    rng = np.random.default_rng(0)
    shape = (32, 128)
    inputs = {"input_ids": tf.constant(rng.integers(5, config.vocab_size, shape), tf.int32),
              "attention_mask": tf.ones(shape, tf.int32), "token_type_ids": tf.zeros(shape, tf.int32)}
    shipped = _build(config)
    candidates = {
        "as shipped": _forward_backward(shipped, False),
        "last layer over all positions": _forward_backward(shipped, True),
        "keras.layers.Dropout": _forward_backward(_build(config, keras.layers.Dropout), False),
        "no dropout": _forward_backward(_build(no_dropout), False),
    }
    for step in candidates.values():
        time_call(lambda: step(inputs), warmup=2, repeats=1)  # noqa: B023
    seconds = take_turns({name: functools.partial(one_call, functools.partial(step, inputs))
                          for name, step in candidates.items()}, args.rounds)
    base = seconds["as shipped"]
    rows = [{"variant": name, "s": f"{value:.3f}", "vs as shipped": f"{value / base:.2f}x"}
            for name, value in seconds.items()]
    print_table(f"Classifier forward + backward, {args.preset}, batch 32 x 128, median of {args.rounds} turns",
                rows, ["variant", "s", "vs as shipped"])


if __name__ == "__main__":
    main()
