"""Fine-tuning trials: the same run under several seeds, each into `OUTPUT/trial_seed<N>/`, summarized.

One fine-tuning score depends on the seed by several points on small sets, so results are reported as the median
of trials (the original ELECTRA's `num_trials`). Each trial is an ordinary run (resumable from its checkpoints); a
trial whose `trial.json` marker exists is finished and skipped on a re-run. After each trial the top level gets
`eval_results.json` (every trial's metrics, median / mean / sd / min / max per metric, and the medians under
"best"/"test" so that readers of a single run's results see the medians), `trials.tsv` and `trials.png`.
"""

import dataclasses
import logging
import os

import numpy as np
import tensorflow as tf

from electra_tf import io_utils
from electra_tf.finetuning.checkpoint_series import format_value, save_figure

RESULTS_FILE = "eval_results.json"
TABLE_FILE = "trials.tsv"
PLOT_FILE = "trials.png"
MARKER_FILE = "trial.json"
STATISTICS = ("median", "mean", "sd", "min", "max")


def parse_seeds(num_trials=None, seeds_text=None, base_seed=42):
    """The trial seeds: `seeds_text` ("1,2,3": distinct integers, in order), else `num_trials` consecutive seeds
    from `base_seed` (so one trial is the plain run); None when neither is given. A ValueError names the flag."""
    if seeds_text and num_trials:
        raise ValueError("--num_trials and --seeds: give one of them")
    if seeds_text:
        try:
            seeds = [int(part) for part in seeds_text.split(",") if part.strip()]
        except ValueError:
            seeds = []
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"--seeds must be distinct comma-separated integers such as 1,2,3; got {seeds_text!r}")
        return seeds
    if num_trials is None:
        return None
    if num_trials < 1:
        raise ValueError(f"--num_trials must be at least 1; got {num_trials}")
    return [base_seed + index for index in range(num_trials)]


def trial_dir(output_dir, seed):
    return os.path.join(output_dir, f"trial_seed{seed}")


def trial_record(seed, results):
    """What the summary keeps of one trial's results: seed, best epoch, best dev metrics, test metrics."""
    best = results.get("best") or {}
    return {"seed": seed, "best_epoch": best.get("epoch"), "dev": dict(best.get("dev") or {}),
            "test": dict(results.get("test") or {})}


def describe(values):
    """median, mean, sample sd (0 for one value), min and max of `values`."""
    values = np.asarray(values, np.float64)
    return {"median": float(np.median(values)), "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()), "max": float(values.max()), "n": int(len(values))}


def summarize(records):
    """{split: {metric: statistics}} over the trial records (a metric counts the trials that have it)."""
    summary = {}
    for split in ("dev", "test"):
        names = sorted({name for record in records for name in record[split]})
        values = {name: [record[split][name] for record in records if name in record[split]] for name in names}
        summary[split] = {name: describe(found) for name, found in values.items() if found}
    return summary


def write_summary(output_dir, records, task_name, metric, hparams):
    """Writes OUTPUT/eval_results.json, trials.tsv and trials.png from the trial records; returns the results."""
    summary = summarize(records)
    medians = {split: {name: stats["median"] for name, stats in by_metric.items()}
               for split, by_metric in summary.items()}
    results = {"task": task_name, "metric": metric, "hparams": hparams, "trials": records, "summary": summary,
               "best": {"epoch": None, "dev": medians["dev"]}, "test": medians["test"]}
    io_utils.write_json(os.path.join(output_dir, RESULTS_FILE), results)
    write_table(os.path.join(output_dir, TABLE_FILE), records, summary)
    plot_trials(os.path.join(output_dir, PLOT_FILE), records, summary)
    return results


def _columns(summary):
    return [(split, name) for split in ("dev", "test") for name in summary[split]]


def write_table(path, records, summary):
    """One row per trial (seed, best epoch, dev_* and test_* metrics), then one row per statistic."""
    columns = _columns(summary)
    with io_utils.atomic_file(path) as handle:
        handle.write("\t".join(["trial", "best_epoch"] + [f"{split}_{name}" for split, name in columns]) + "\n")
        for record in records:
            values = [record[split].get(name) for split, name in columns]
            handle.write("\t".join([f"seed{record['seed']}", format_value(record["best_epoch"])]
                                   + [format_value(value) for value in values]) + "\n")
        for statistic in STATISTICS:
            values = [summary[split][name][statistic] for split, name in columns]
            handle.write("\t".join([statistic, ""] + [format_value(value) for value in values]) + "\n")


def plot_panels(records, summary):
    """`[(split, metric, title)]`, one per panel of trials.png: a test metric equal to the dev one in every trial
    (the dev file is the test file, as for NSMC) is one panel titled "dev = test METRIC", not two."""
    def dev_is_test(name):
        return (name in summary["dev"] and name in summary["test"]
                and all(record["dev"].get(name) == record["test"].get(name) for record in records))

    panels = []
    for split, name in _columns(summary) or [("test", "none")]:
        if dev_is_test(name):
            if split == "dev":
                panels.append((split, name, f"dev = test {name}"))
        else:
            panels.append((split, name, f"{split} {name}"))
    return panels


def plot_trials(path, records, summary):
    """A PNG with one panel per metric (`plot_panels`): each trial as a point (labelled by seed), the median as
    a line."""
    import matplotlib  # heavy: only needed for this plot

    matplotlib.use("Agg")
    from matplotlib import pyplot

    panels = plot_panels(records, summary)
    figure, axes_list = pyplot.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), squeeze=False)
    for axes, (split, name, title) in zip(axes_list[0], panels):
        points = [(record["seed"], record[split][name]) for record in records if name in record[split]]
        positions = np.arange(len(points))
        axes.scatter(positions, [value for _, value in points], color="tab:blue", zorder=3, label="trial")
        if points:
            axes.axhline(summary[split][name]["median"], color="tab:red", label="median")
        axes.set_xticks(positions, [f"seed {seed}" for seed, _ in points], rotation=45, fontsize=7)
        axes.set_title(title, fontsize=9)
        axes.grid(True, alpha=0.3)
    axes_list[0][0].legend(fontsize=7)
    figure.suptitle(f"{len(records)} fine-tuning trials")
    save_figure(figure, path)


def run_trials(seeds, hparams, output_dir, run_one, task_name, metric):
    """Runs `run_one(hparams, trial_output_dir)` (returns that run's results) for each seed not finished yet,
    rewriting the summary after each trial. Returns the summary results."""
    tf.io.gfile.makedirs(output_dir)
    records = []
    for seed in seeds:
        directory = trial_dir(output_dir, seed)
        marker = os.path.join(directory, MARKER_FILE)
        if tf.io.gfile.exists(marker):
            logging.info("Trial seed %d is finished (%s): skipped", seed, marker)
            records.append(io_utils.read_json(marker))
        else:
            logging.info("Trial seed %d (%d of %d) into %s", seed, len(records) + 1, len(seeds), directory)
            record = trial_record(seed, run_one(dataclasses.replace(hparams, seed=seed), directory))
            io_utils.write_json(marker, record)
            records.append(record)
        summary = write_summary(output_dir, records, task_name, metric, {**hparams.to_dict(), "seed": None})
    return summary


def read_trials(directory):
    """{seed: trial record} of a trials directory's eval_results.json (a ValueError when it has no trials)."""
    path = os.path.join(directory, RESULTS_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{directory}: no {RESULTS_FILE} (run the fine-tuning with --num_trials or --seeds)")
    results = io_utils.read_json(path)
    if "trials" not in results:
        raise ValueError(f"{path}: not a trials summary (no 'trials'; run with --num_trials or --seeds)")
    return results, {int(record["seed"]): record for record in results["trials"]}

