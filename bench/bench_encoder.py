"""Forward throughput (sequences/s, batch 32 x 128) of our encoder vs transformers' TFElectraModel.

Same weights (ours exported, loaded by transformers), same inputs, same process; each model under
`tf.function` and under `tf.function(jit_compile=True)`. Run: `python -m bench.bench_encoder [--preset P]`.
"""

import argparse
import tempfile

import numpy as np
import tensorflow as tf

from bench.common import print_table, time_call


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="koelectra-small-v3")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--sequence_length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import transformers

    from electra_tf.config import ElectraConfig
    from electra_tf.export import export_transformers
    from electra_tf.models import build_model

    config = ElectraConfig.from_preset(args.preset)
    ours = build_model(config, "encoder")
    with tempfile.TemporaryDirectory() as directory:
        export_transformers(ours, directory)
        theirs = transformers.TFElectraModel.from_pretrained(directory)
    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.sequence_length)
    inputs = {"input_ids": tf.constant(rng.integers(5, config.vocab_size, shape), tf.int32),
              "attention_mask": tf.ones(shape, tf.int32), "token_type_ids": tf.zeros(shape, tf.int32)}
    candidates = {
        "electra_tf": lambda x: ours(x)["last_hidden_state"],
        "transformers TFElectraModel": lambda x: theirs(x).last_hidden_state,
    }
    rows = []
    for jit in (False, True):
        seconds = {}
        for name, forward in candidates.items():
            function = tf.function(forward, jit_compile=jit)
            seconds[name] = time_call(lambda: function(inputs), repeats=args.repeats)
        for name, value in seconds.items():
            rows.append({"model": name, "jit_compile": jit, "s/batch": f"{value:.3f}",
                         "sequences/s": f"{args.batch_size / value:.1f}",
                         "ratio vs transformers": f"{seconds['transformers TFElectraModel'] / value:.2f}x"})
    print_table(f"Encoder forward, {args.preset}, batch {args.batch_size} x {args.sequence_length}, "
                f"{tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads", rows,
                ["model", "jit_compile", "s/batch", "sequences/s", "ratio vs transformers"])


if __name__ == "__main__":
    main()
