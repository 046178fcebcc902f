"""Where a fine-tuning epoch's time goes: runs a `electra_tf.finetuning.run.FinetuneRun` (task nsmc) with a timer
(its `timer` hook) around each phase of the epoch loop and `train_epoch` (train steps, the first-call trace, the
progress bar, tf.data pipeline and iterator creation, dev predict, evaluate, checkpoint saves, best-weights save,
JSON writes, and Python garbage collection) and, with `--cprofile FILE`, a cProfile of the whole run.

    python -m experiments.profile_finetuning_epoch --data_dir /work/data/nsmc [--init DIR | --preset tiny
        --vocab_size 8000] [--epochs 2] [--cprofile epoch.prof] [--json_out phases.json]

Prints a table of phases (seconds per epoch) and each epoch's timeline (when its last step ended, when
`train_epoch` returned, when the epoch's record was written).
"""

import argparse
import contextlib
import cProfile
import gc
import json
import os
import pstats
import statistics
import tempfile
import time

from bench.bench_finetuning_real import TRAIN_FILE, make_init, read_nsmc
from bench.common import print_table
from electra_tf import distribute
from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.run import FinetuneRun
from electra_tf.finetuning.tasks import get_task


class Phases:
    """(start, end) intervals per phase name: the fine-tuning run's `timer` (`phase(name)`)."""

    def __init__(self):
        self.intervals = {}
        self.origin = time.perf_counter()

    def now(self):
        return time.perf_counter() - self.origin

    def mark(self, name, start, end):
        self.intervals.setdefault(name, []).append((start, end))

    @contextlib.contextmanager
    def phase(self, name):
        start = self.now()
        try:
            yield
        finally:
            self.mark(name, start, self.now())

    def gc_callback(self, phase, info):
        if phase == "start":
            self._gc_start = self.now()
        else:
            self.mark(f"python gc (generation {info['generation']})", self._gc_start, self.now())

    def within(self, start, end):
        """{phase: seconds spent inside [start, end]}."""
        return {name: sum(min(e, end) - max(s, start) for s, e in spans if e > start and s < end)
                for name, spans in self.intervals.items()}


def step_statistics(spans):
    seconds = [end - start for start, end in spans]
    if not seconds:
        return {}
    ordered = sorted(seconds)
    return {"calls": len(seconds), "first": seconds[0], "median": statistics.median(seconds),
            "p99": ordered[int(0.99 * (len(ordered) - 1))], "max": ordered[-1], "sum": sum(seconds),
            "slow (>10x median)": sum(1 for value in seconds if value > 10 * statistics.median(seconds))}


def report(phases, results, epoch_spans):
    """Per-epoch phase seconds, the timeline and step statistics."""
    rows, timeline = [], []
    names = sorted(phases.intervals)
    for index, (start, end) in enumerate(epoch_spans):
        inside = phases.within(start, end)
        train_steps = [span for span in phases.intervals.get("train steps", [])
                       if start <= span[0] < end]
        epoch_end = [span for span in phases.intervals.get("train_epoch (whole)", []) if start <= span[0] < end]
        timeline.append({"epoch": index + 1, "started": start,
                         "first step started": train_steps[0][0] - start if train_steps else None,
                         "last step ended": train_steps[-1][1] - start if train_steps else None,
                         "train_epoch returned": epoch_end[-1][1] - start if epoch_end else None,
                         "epoch record written": end - start,
                         "record train_seconds": results["epochs"][index].get("train_seconds")
                         if index < len(results.get("epochs", [])) else None,
                         "steps": step_statistics(train_steps),
                         "step_ends": [round(span[1] - start, 4) for span in train_steps]})
        for name in names:
            rows.append({"epoch": index + 1, "phase": name, "seconds": round(inside.get(name, 0.0), 3),
                         "calls": sum(1 for s, _ in phases.intervals[name] if start <= s < end)})
        rows.append({"epoch": index + 1, "phase": "(epoch total)", "seconds": round(end - start, 3), "calls": 1})
    return rows, timeline


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", required=True, help="NSMC directory (ratings_train.txt, ratings_test.txt)")
    parser.add_argument("--init", help="transformers directory (default: random --preset init)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--vocab_size", type=int, default=8000)
    parser.add_argument("--config", default=None, help="fine-tuning config (default: the built-in defaults)")
    parser.add_argument("--hparams", default="{}", help="JSON overrides")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--jit_compile", action="store_true")
    parser.add_argument("--distribution_strategy", default="one_device", choices=distribute.STRATEGIES + ["none"],
                        help="as the CLI's flag (its default one_device); none: TF's default strategy")
    parser.add_argument("--no_progress", action="store_true")
    parser.add_argument("--work_dir")
    parser.add_argument("--cprofile", help="write cProfile stats of the whole run here (and print the top)")
    parser.add_argument("--json_out")
    args = parser.parse_args()

    work_dir = args.work_dir or tempfile.mkdtemp(prefix="profile_finetuning_")
    init = args.init or make_init([text for text, _ in read_nsmc(os.path.join(args.data_dir, TRAIN_FILE))],
                                  args.preset, args.vocab_size, os.path.join(work_dir, "init"))
    hparams = load_hparams(args.config, "nsmc", {**json.loads(args.hparams), "num_train_epochs": args.epochs})
    task = get_task("nsmc")
    phases = Phases()
    gc.callbacks.append(phases.gc_callback)
    profiler = cProfile.Profile() if args.cprofile else None
    output_dir = os.path.join(work_dir, "run")
    with profiler if profiler else contextlib.nullcontext():
        strategy = None if args.distribution_strategy == "none" else distribute.get_strategy(
            args.distribution_strategy)
        run = FinetuneRun(task, hparams, init, args.data_dir, output_dir, strategy=strategy,
                          jit_compile=args.jit_compile, progress=not args.no_progress, export=False, timer=phases)
        results = run.run()
    epoch_spans = phases.intervals.get("epoch", [])
    tuners = [run.tuner]
    rows, timeline = report(phases, results, epoch_spans)
    print_table(f"Phases per epoch (nsmc, {init}, jit_compile={args.jit_compile}, "
                f"strategy {args.distribution_strategy})", rows,
                ["epoch", "phase", "seconds", "calls"])
    for entry in timeline:
        print(json.dumps({key: value for key, value in entry.items() if key != "step_ends"}))
    print(f"dev accuracy per epoch: {[e['dev'].get('accuracy') for e in results['epochs']]}; traces of the "
          f"compiled loops: {tuners[0].traces}; strategy {args.distribution_strategy}")
    if profiler:
        profiler.dump_stats(args.cprofile)
        stats = pstats.Stats(args.cprofile)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump({"phases": rows, "timeline": timeline, "epochs": results["epochs"], "traces": tuners[0].traces,
                       "strategy": args.distribution_strategy}, handle, indent=1)


if __name__ == "__main__":
    main()
