"""The cost of pre-training's learning-health metrics (`pretraining/health.py`) per step, KoELECTRA-small-v3
shape (seq 128, batch 32) on this machine's CPU.

Three steps of the same `PretrainingRun`, in one process and on the same batch: without any health statistic
(the peer: `health.health_statistics` left out of the trace), with the cheap ones only (no unigram
distribution: [MASK]/kept split, generator-fill histograms), and with all of them (`health_rows` rows per step
also filled with unigram draws and scored by one more discriminator forward). They are built and warmed up
first, then take turns step by step (`--repeats` rounds); per round each step's wall and CPU seconds (this
process's, all threads: less sensitive to other jobs on a shared machine) are divided by the peer's of that
round, and the medians of these ratios are reported.

Run: `python -m bench.bench_health [--repeats 7] [--health_rows 4] [--jit_compile]`.
"""

import argparse
import contextlib
import dataclasses
import os
import statistics
import time

import numpy as np

from bench.bench_pretraining import BATCH, LENGTH, ours_step
from bench.common import ROOT, print_table, time_call

PEER = "without health statistics"


@contextlib.contextmanager
def health_left_out():
    """Traces the step as it was before the health metrics: `health_statistics` adds nothing."""
    from electra_tf.pretraining import health

    original = health.health_statistics
    health.health_statistics = lambda *args, **kwargs: {}
    try:
        yield
    finally:
        health.health_statistics = original


def built_step(config, jit_compile, unigram=None, without_health=False):
    """A warmed-up step function (traced inside `health_left_out` for the peer)."""
    with health_left_out() if without_health else contextlib.nullcontext():
        step = ours_step(config, jit_compile, "float32", unigram=unigram)
        time_call(step, warmup=2, repeats=1)
    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "pretrain", "koelectra-small-v3.json"))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--health_rows", type=int, default=None, help="default: the config's")
    parser.add_argument("--jit_compile", action="store_true")
    args = parser.parse_args()

    from electra_tf.pretraining.config import PretrainingConfig

    config = PretrainingConfig.from_json_file(args.config, {"max_seq_length": LENGTH, "train_batch_size": BATCH,
                                                            "max_predictions_per_seq": None})
    if args.health_rows is not None:
        config = dataclasses.replace(config, health_rows=args.health_rows)
    vocab_size = config.discriminator_config().vocab_size
    unigram = np.random.default_rng(0).dirichlet(np.full(vocab_size - 5, 0.5))
    unigram = np.concatenate([np.zeros(5), unigram])
    # built in this order (the peer last), timed taking turns
    steps = {f"all health statistics ({config.health_rows} unigram-fill rows of {BATCH})":
             built_step(config, args.jit_compile, unigram=unigram),
             "cheap health statistics (no unigram fills)": built_step(config, args.jit_compile),
             PEER: built_step(config, args.jit_compile, without_health=True)}
    times = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            times[name].append(timed(step))
    rows = []
    for name, values in times.items():
        wall = [value[0] / peer[0] for value, peer in zip(values, times[PEER])]
        cpu = [value[1] / peer[1] for value, peer in zip(values, times[PEER])]
        rows.append({"step": name, "wall s/step": f"{statistics.median(v[0] for v in values):.3f}",
                     "CPU s/step": f"{statistics.median(v[1] for v in values):.3f}",
                     "wall vs without": f"{statistics.median(wall):.3f}x",
                     "CPU vs without": f"{statistics.median(cpu):.3f}x"})
    print_table(f"Health metrics' cost per pre-training step, {os.path.basename(args.config)}, batch {BATCH} x "
                f"{LENGTH}{', jit_compile' if args.jit_compile else ''}, medians of {args.repeats} rounds", rows,
                ["step", "wall s/step", "CPU s/step", "wall vs without", "CPU vs without"])


def timed(step):
    """(wall, CPU) seconds of one call of `step` (its result forced to host)."""
    wall, cpu = time.perf_counter(), time.process_time()
    step()  # returns numpy values: the step has finished
    return time.perf_counter() - wall, time.process_time() - cpu


if __name__ == "__main__":
    main()
