"""Gradient accumulation and the plan at KoELECTRA-small-v3 shape (seq 128, batch 32), in one process.

- Cost per example: our optimizer step of 32 rows as k micro-batches (`gradient_accumulation_steps` k, default
  4 x 8 rows) against the plain step of the same 32 rows (same examples per step, so the ratio of step times is
  the ratio of costs per example; goal <= 1.05), and against k plain steps of one micro-batch: what is left once
  the micro-batch's own size (smaller matrix products) is taken out is accumulation's own cost.
- Peak memory of one step (float32): ours, plain and accumulated, against the same replaced-token-detection step
  assembled from transformers' TF classes (`bench_pretraining.transformers_step`); each the allocator's peak
  during its second step above what was in use before it was built (goal: ours not above the peer).
- The plan's step time (`electra_tf.plan`, measured over its few steps) against the median measured here.

The steps take turns (`--repeats` rounds, medians). On a CPU the memory statistics need TensorFlow's BFC
allocator, chosen here before TensorFlow starts.

Run: `python -m bench.bench_accumulation [--repeats 5] [--accumulation 4] [--no_peer]`.
"""

import argparse
import os

os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"  # before TensorFlow starts: the CPU's memory statistics

import tensorflow as tf  # noqa: E402

from bench.bench_pretraining import BATCH, LENGTH, synthetic_batch, transformers_step  # noqa: E402
from bench.common import ROOT, one_call, print_table, take_turns  # noqa: E402


def device():
    return "GPU:0" if tf.config.list_logical_devices("GPU") else "CPU:0"


def measured(build):
    """`(step function, peak bytes of its second call above the memory in use before build())`."""
    before = tf.config.experimental.get_memory_info(device())["current"]
    step = build()
    step()
    tf.config.experimental.reset_memory_stats(device())
    step()
    return step, tf.config.experimental.get_memory_info(device())["peak"] - before


def ours(config, accumulation, rows=BATCH):
    """One optimizer step of `rows` synthetic rows as `accumulation` micro-batches."""
    import dataclasses

    from electra_tf.pretraining.loop import PretrainingRun

    config = dataclasses.replace(config, gradient_accumulation_steps=accumulation, train_batch_size=rows)
    run = PretrainingRun(config, config.discriminator_config(), {"pad": 0, "cls": 2, "sep": 3, "mask": 4},
                         "/tmp/electra_tf_bench_unused", tf.distribute.get_strategy())
    batch = {name: value[:rows] for name, value in synthetic_batch(config.discriminator_config().vocab_size).items()}
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    return lambda: run.train_steps(iterator, 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "pretrain", "koelectra-small-v3.json"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--accumulation", type=int, default=4, help="micro-batches per step of 32 rows")
    parser.add_argument("--no_peer", action="store_true", help="skip the transformers step")
    args = parser.parse_args()

    from electra_tf import plan
    from electra_tf.pretraining.config import PretrainingConfig

    config = PretrainingConfig.from_json_file(args.config, {"max_seq_length": LENGTH, "train_batch_size": BATCH,
                                                            "max_predictions_per_seq": None})
    accumulation = args.accumulation
    if accumulation < 1 or BATCH % accumulation:
        parser.error(f"--accumulation {accumulation} must divide the batch of {BATCH} rows")
    micro = BATCH // accumulation
    plain_name, accumulated_name = f"ours {BATCH} rows", f"ours {accumulation} x {micro} rows"
    micro_name = f"ours {micro} rows, plain ({accumulation} steps)"
    steps, peaks = {}, {}
    steps[plain_name], peaks[plain_name] = measured(lambda: ours(config, 1))
    steps[accumulated_name], peaks[accumulated_name] = measured(lambda: ours(config, accumulation))
    micro_step, peaks[micro_name] = measured(lambda: ours(config, 1, rows=micro))
    steps[micro_name] = lambda: [micro_step() for _ in range(accumulation)][-1]
    peer_name = "transformers TF classes (RTD step)"
    if not args.no_peer:
        peer, peaks[peer_name] = measured(lambda: transformers_step(config))
    planned = plan.plan(plan.Pretraining(config, config.discriminator_config()), tf.distribute.get_strategy(),
                        log=lambda line: None)
    medians = take_turns({name: (lambda step=step: one_call(step)) for name, step in steps.items()}, args.repeats)

    rows = [{"step": name, "seconds per optimizer step": f"{medians[name]:.3f}",
             "x plain": f"{medians[name] / medians[plain_name]:.3f}", "peak GB": f"{peaks[name] / 1e9:.3f}",
             "peak x peer": f"{peaks[name] / peaks[peer_name]:.3f}" if peer_name in peaks else ""}
            for name in steps]
    if peer_name in peaks:
        rows.append({"step": peer_name, "peak GB": f"{peaks[peer_name] / 1e9:.3f}", "peak x peer": "1.000"})
    print_table(f"Accumulation and memory, {BATCH} x {LENGTH}, {device()}, float32 (medians of {args.repeats})",
                rows, ["step", "seconds per optimizer step", "x plain", "peak GB", "peak x peer"])
    print(f"\nplan: {planned['seconds_per_step']:.3f} s per step predicted, {medians[plain_name]:.3f} s measured "
          f"(x{planned['seconds_per_step'] / medians[plain_name]:.3f}); planned peak "
          f"{planned['measured_peak_bytes'] / 1e9:.3f} GB")


if __name__ == "__main__":
    main()
