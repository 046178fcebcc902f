"""Learning curves of pre-training runs: their `metrics.json` windows → one PNG (matplotlib, Agg backend), one
panel per metric against step, one coloured line per run, and the same values as a Markdown table.

    python -m electra_tf.pretraining.curves --run ours=MODEL_DIR [--run "model garden=mg.json"] \\
        --output curves.png [--curves disc_loss,disc_auc,masked_lm_accuracy]

A run is a run directory (its `metrics.json`) or a JSON file in that format: a list of logged windows, each a
dict with a "step" (experiments/bench_model_garden.py writes one). `plot_curves` is the function a run calls to
draw its own curves.
"""

import io
import os

import tensorflow as tf
from absl import flags
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from electra_tf import cli, io_utils, rundir

CURVES = ("disc_loss", "disc_auc", "masked_lm_accuracy")
# what a run draws beside its metrics.json at each checkpoint (those its windows hold)
HEALTH_CURVES = ("loss", "mask_lm_loss", "mask_loss_gap", "disc_auc_generator_fill", "disc_auc_unigram_fill")
COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:orange", "tab:purple", "black")
DPI = 100


def read_history(path):
    """The logged windows of a run directory or metrics JSON file, as a list of dicts with "step"."""
    if tf.io.gfile.isdir(path):
        path = os.path.join(path, rundir.METRICS_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path}: no such metrics file")
    history = io_utils.read_json(path)
    if not isinstance(history, list) or not history or not all(isinstance(row, dict) and "step" in row
                                                                for row in history):
        raise ValueError(f"{path}: not a list of logged windows with a 'step'")
    return history


def _check(runs, curves):
    if not runs:
        raise ValueError("no run to plot")
    for label, history in runs.items():
        missing = sorted({name for name in curves for row in history if name not in row})
        if missing:
            raise ValueError(f"run {label!r}: logged windows without {missing} (curves: {list(curves)})")


def plot_curves(runs, path, size=(400, 280), curves=CURVES):
    """Writes a PNG of `curves` (metric names) for `runs` ({label: history}): one panel of `size` pixels per
    curve, the step axis shared by the panels, a legend naming each run's colour. Returns `path`."""
    curves = tuple(curves)
    _check(runs, curves)
    width, height = size
    figure = Figure(figsize=(width * len(curves) / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(curves), sharex=True, squeeze=False)[0]
    for axis, name in zip(axes, curves):
        for colour, (label, history) in zip(COLOURS * len(runs), runs.items()):
            steps, values = [row["step"] for row in history], [row[name] for row in history]
            axis.plot(steps, values, color=colour, linewidth=2, marker="o" if len(steps) == 1 else None,
                      label=label)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("step", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    with io_utils.atomic_file(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return path


def plot_run(model_dir, runs, curves=HEALTH_CURVES):
    """Draws `runs` ({label: history}, the empty ones left out) to MODEL_DIR/curves.png, one panel per curve that
    every window holds; returns the path, or None when there is nothing to draw."""
    runs = {label: history for label, history in runs.items() if history}
    curves = [name for name in curves if all(name in row for history in runs.values() for row in history)]
    if not runs or not curves:
        return None
    return plot_curves(runs, os.path.join(model_dir, rundir.CURVES_FILE), size=(320, 260), curves=curves)


def curve_table(runs, curves=CURVES):
    """Markdown rows: per run and logged step, the curves' values."""
    lines = ["| run | step | " + " | ".join(curves) + " |", "|---|---|" + "---|" * len(curves)]
    for label, history in runs.items():
        lines += [f"| {label} | {row['step']} | " + " | ".join(f"{row[name]:.4f}" for name in curves) + " |"
                  for row in history]
    return "\n".join(lines)


def parse_run(value):
    """`LABEL=PATH` of `--run` → (label, path)."""
    label, separator, path = value.partition("=")
    if not separator or not label or not path:
        raise ValueError(f"--run {value!r}: expected LABEL=PATH")
    return label, path


def define_flags():
    """Defines the command-line flags (only when run as a command, so importing defines nothing)."""
    flags.DEFINE_multi_string("run", None, "LABEL=PATH: a run directory or metrics JSON file (repeat for each run).")
    flags.DEFINE_string("output", None, "PNG to write.")
    flags.DEFINE_list("curves", list(CURVES), "Metrics to draw, one panel each.")
    flags.mark_flags_as_required(["run", "output"])
    return flags.FLAGS


def main(argv):
    del argv
    values = flags.FLAGS
    runs = {}
    for value in values.run:
        label, path = parse_run(value)
        try:
            runs[label] = read_history(path)
        except (FileNotFoundError, ValueError) as error:
            raise type(error)(f"--run {value}: {error}") from error
    plot_curves(runs, values.output, curves=values.curves)
    print(curve_table(runs, values.curves))
    print(f"wrote {values.output}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
