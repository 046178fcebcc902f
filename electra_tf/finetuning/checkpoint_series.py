"""Scoring a pre-training run's checkpoints by fine-tuning (`run_finetuning.py --checkpoint_steps all|N,M,…`),
as KcELECTRA fine-tuned every 100k-step checkpoint to pick one: each selected checkpoint of the run directory is
fine-tuned into `OUTPUT/step-<N>/`, then `OUTPUT/checkpoint_scores.tsv` (step, best epoch, each dev and test
metric) and `OUTPUT/checkpoint_scores.png` (the task's metric against step) are rewritten. Steps already in the
table are skipped, so a re-run (say with `all` after more pre-training) scores only the new checkpoints.
"""

import io
import logging
import os

import tensorflow as tf

from electra_tf import io_utils, rundir
from electra_tf.pretrained import find_vocab

SCORES_FILE = "checkpoint_scores.tsv"
PLOT_FILE = "checkpoint_scores.png"
ALL = "all"
FLAG = "--checkpoint_steps"


def parse_steps(text):
    """`all` → None (every checkpoint); `N,M,…` → the sorted distinct steps. A ValueError names the flag."""
    text = (text or "").strip()
    if text.lower() == ALL:
        return None
    try:
        steps = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        steps = []
    if not steps or steps[0] < 0:
        raise ValueError(f"{FLAG} must be '{ALL}' or comma-separated steps such as 100000,200000; got {text!r}")
    return steps


def select_checkpoints(model_dir, steps):
    """`[(step, checkpoint prefix)]` of the run directory for `steps` (None: all its checkpoints, rolling and
    series)."""
    if not rundir.is_pretraining_dir(model_dir):
        raise ValueError(f"{FLAG} needs a pre-training run directory as --init_checkpoint ({rundir.CONFIG_FILE} "
                         f"and checkpoints); {model_dir} is not one")
    available = rundir.list_checkpoints(model_dir)
    if steps is None:
        return list(available.items())
    missing = [step for step in steps if step not in available]
    if missing:
        raise ValueError(f"{FLAG}: {model_dir} has no checkpoint of step(s) {missing}; it has steps "
                         f"{list(available)} (set keep_checkpoint_every_n_steps when pre-training to keep a series)")
    return [(step, available[step]) for step in steps]


def run_vocab(model_dir, vocab_file=None):
    """`vocab_file`, else a vocab.txt in the run directory or in its exported discriminator."""
    vocab_file = (vocab_file or find_vocab(model_dir)
                  or find_vocab(os.path.join(model_dir, "export", "discriminator")))
    if not vocab_file:
        raise FileNotFoundError(f"No vocab.txt in the run directory {model_dir}: pass --vocab (the pre-training "
                                "vocabulary)")
    return vocab_file


def score_row(step, results):
    """One table row from a fine-tuning run's results: step, best epoch, `dev_<metric>`, `test_<metric>`."""
    row = {"step": step, "best_epoch": results.get("best", {}).get("epoch")}
    for split in ("dev", "test"):
        source = results.get("best", {}).get("dev") if split == "dev" else results.get("test")
        row.update({f"{split}_{name}": float(value) for name, value in (source or {}).items()})
    return row


def read_scores(path):
    """{step: row} of an existing scores table ({} when there is none)."""
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path, "r") as handle:
        lines = handle.read().splitlines()
    if not lines:
        return {}
    header, rows = lines[0].split("\t"), {}
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(header):
            raise ValueError(f"{path}:{number}: expected {len(header)} columns, found {len(fields)}")
        row = {name: _number(value) for name, value in zip(header, fields) if value != ""}
        rows[int(row["step"])] = row
    return rows


def write_scores(path, rows):
    """Writes the table (one row per step, in step order; columns: step, best_epoch, dev_*, test_*)."""
    names = sorted({name for row in rows for name in row} - {"step", "best_epoch"},
                   key=lambda name: (not name.startswith("dev_"), name))
    header = ["step", "best_epoch"] + names
    with io_utils.atomic_file(path) as handle:
        handle.write("\t".join(header) + "\n")
        for row in sorted(rows, key=lambda row: row["step"]):
            handle.write("\t".join(format_value(row.get(name)) for name in header) + "\n")


def plot_scores(path, rows, metric):
    """A PNG of the dev (and test) `metric` against the pre-training step."""
    import matplotlib  # heavy: only needed for this plot

    matplotlib.use("Agg")
    from matplotlib import pyplot

    rows = sorted(rows, key=lambda row: row["step"])
    figure, axes = pyplot.subplots(figsize=(6, 4))
    for split in ("dev", "test"):
        points = [(row["step"], row[f"{split}_{metric}"]) for row in rows if f"{split}_{metric}" in row]
        if points:
            axes.plot(*zip(*points), marker="o", label=split)
    axes.set_xlabel("pre-training step")
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} after fine-tuning each checkpoint")
    axes.grid(True, alpha=0.3)
    axes.legend()
    save_figure(figure, path)


def save_figure(figure, path):
    """Writes a matplotlib `figure` as a PNG to `path` (atomically, any `tf.io.gfile` path) and closes it."""
    from matplotlib import pyplot

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    pyplot.close(figure)
    with io_utils.atomic_file(path, "wb") as handle:
        handle.write(buffer.getvalue())


def score_checkpoints(model_dir, steps_text, output_dir, finetune_one, metric, vocab_file=None):
    """Fine-tunes each selected checkpoint not yet scored with `finetune_one(init_checkpoint, output_dir,
    vocab_file)` (returns the results dict), rewriting the table and the plot after each. Returns the rows."""
    selected = select_checkpoints(model_dir, parse_steps(steps_text))
    vocab_file = run_vocab(model_dir, vocab_file)
    scores_path, plot_path = os.path.join(output_dir, SCORES_FILE), os.path.join(output_dir, PLOT_FILE)
    scores = read_scores(scores_path)
    for step, checkpoint in selected:
        if step in scores:
            logging.info("Step %d is already scored in %s: skipped", step, scores_path)
            continue
        logging.info("Fine-tuning the checkpoint of step %d (%s)", step, checkpoint)
        results = finetune_one(checkpoint, os.path.join(output_dir, f"step-{step}"), vocab_file)
        scores[step] = score_row(step, results)
        write_scores(scores_path, list(scores.values()))
        plot_scores(plot_path, list(scores.values()), metric)
    if scores and not tf.io.gfile.exists(plot_path):
        plot_scores(plot_path, list(scores.values()), metric)
    return [scores[step] for step in sorted(scores)]


def _number(text):
    try:
        return int(text)
    except ValueError:
        return float(text)


def format_value(value):
    """A table cell: empty for None, integers as they are, floats to 6 significant digits."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.6g}"
