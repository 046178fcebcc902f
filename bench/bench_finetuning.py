"""Fine-tuning train-step time (classification, batch 32 x 128): electra_tf's `FineTuner` step vs transformers'
`TFElectraForSequenceClassification` trained with Keras `fit`, same weights (ours exported, loaded by
transformers), same data, same process. Rows are 64-128 tokens long (uniformly; about 25% padding, less than
real fine-tuning sets such as NSMC have at 128); ours skips the padding in its dense layers, and a third row
shows ours without that.

Run: `python -m bench.bench_finetuning [--preset koelectra-small-v3] [--steps 10]`.
The transformers side times each `fit` batch with a callback; ours times each `train_step` including the host
sync the training loop does for its progress bar. After warm-up the candidates take turns (`--rounds` times
`--steps` steps each) and the median over all their steps is reported, so that drift in the machine's speed
affects every candidate alike.
"""

import argparse
import functools
import tempfile
import time

import numpy as np
import tensorflow as tf

from bench.common import print_table, take_turns


def _data(config, batch_size, sequence_length, batches, num_labels, seed=0):
    rng = np.random.default_rng(seed)
    rows = batch_size * batches
    shape = (rows, sequence_length)
    lengths = rng.integers(sequence_length // 2, sequence_length + 1, rows)
    mask = (np.arange(sequence_length)[None, :] < lengths[:, None]).astype(np.int32)
    ids = rng.integers(5, config.vocab_size, shape).astype(np.int32) * mask
    ids[:, 0] = 2
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros(shape, np.int32)}
    labels = rng.integers(0, num_labels, rows).astype(np.int32)
    return inputs, labels


def ours_runner(model, inputs, labels, args, jit_compile, skip_padding=True):
    """A function ``run(steps)`` → per-step seconds of our `FineTuner` (warm-up done here)."""
    from electra_tf.finetuning.tasks import get_task
    from electra_tf.finetuning.config import FinetuneHparams
    from electra_tf.finetuning.loop import FineTuner

    hparams = FinetuneHparams(train_batch_size=args.batch_size, max_seq_length=args.sequence_length)
    tuner = FineTuner(model, get_task("nsmc"), hparams, train_steps=10_000, jit_compile=jit_compile)
    model.electra.skip_padding &= skip_padding  # the FineTuner turns it on unless jit_compile
    weights = tf.ones([len(labels)], tf.float32)
    examples = np.arange(len(labels), dtype=np.int64)  # the rows' example numbers: they key the dropout masks
    dataset = tf.data.Dataset.from_tensor_slices((inputs, {"labels": labels}, weights, examples)).batch(
        args.batch_size)
    iterator = iter(tuner.strategy.experimental_distribute_dataset(dataset.repeat().prefetch(2)))

    def run(steps):
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            tuner.train(iterator, 1)
            times.append(time.perf_counter() - start)
        return times

    run(args.warmup)
    return run


class _BatchTimer:
    def __init__(self):
        import tf_keras

        timer = self

        class Callback(tf_keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                timer.start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                timer.times.append(time.perf_counter() - timer.start)

        self.times = []
        self.callback = Callback()


def transformers_runner(directory, inputs, labels, args):
    """``run(steps)`` → per-batch seconds of transformers' model under tf-keras `fit` (warm-up done here)."""
    import tf_keras
    import transformers

    model = transformers.TFElectraForSequenceClassification.from_pretrained(directory)
    model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate=5e-5, epsilon=1e-8, clipnorm=1.0))
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(args.batch_size).repeat().prefetch(2)

    def run(steps):
        timer = _BatchTimer()
        model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer.callback])
        return timer.times

    run(args.warmup)
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="koelectra-small-v3")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--sequence_length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3,
                        help="the candidates take turns this many times (steps each), so drift hits all alike")
    parser.add_argument("--no_jit", action="store_true", help="skip the XLA variant of ours")
    args = parser.parse_args()

    from electra_tf.config import ElectraConfig
    from electra_tf.export import export_transformers
    from electra_tf.models import build_model

    config = ElectraConfig.from_preset(args.preset).with_labels(["0", "1"])
    inputs, labels = _data(config, args.batch_size, args.sequence_length, 16, 2)
    with tempfile.TemporaryDirectory() as directory:
        source = build_model(config, "sequence_classification")
        export_transformers(source, directory)
        from electra_tf.pretrained import load_pretrained

        runners = {"transformers TFElectraForSequenceClassification + fit":
                   transformers_runner(directory, inputs, labels, args),
                   "electra_tf FineTuner": ours_runner(load_pretrained(directory), inputs, labels, args, False)}
        runners["electra_tf FineTuner, padding not skipped"] = ours_runner(
            load_pretrained(directory), inputs, labels, args, False, skip_padding=False)
        if not args.no_jit:
            runners["electra_tf FineTuner (jit_compile)"] = ours_runner(
                load_pretrained(directory), inputs, labels, args, True)
    seconds = take_turns({name: functools.partial(run, args.steps) for name, run in runners.items()}, args.rounds)
    reference = seconds["transformers TFElectraForSequenceClassification + fit"]
    rows = [{"trainer": name, "s/step": f"{value:.3f}", "sequences/s": f"{args.batch_size / value:.1f}",
             "speed-up vs transformers fit": f"{reference / value:.2f}x"} for name, value in seconds.items()]
    padding = 1 - inputs["attention_mask"].mean()
    print_table(f"Fine-tuning train step, {args.preset}, batch {args.batch_size} x {args.sequence_length} "
                f"({padding:.0%} padding), "
                f"median of {args.rounds} rounds x {args.steps} steps after {args.warmup} warm-up, devices: "
                f"{[d.device_type for d in tf.config.list_logical_devices()]}", rows,
                ["trainer", "s/step", "sequences/s", "speed-up vs transformers fit"])


if __name__ == "__main__":
    main()
