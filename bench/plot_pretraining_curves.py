"""Pre-training learning curves of one or more runs in one PNG: disc_loss, disc_auc and masked_lm_accuracy against
step, one panel per metric, one coloured line per run (Pillow only; no plotting library needed).

    python bench/plot_pretraining_curves.py --run ours=MODEL_DIR --run "model garden=mg.json" --output curves.png

A run is a run directory (its `metrics.json`) or a metrics JSON file in that format (bench/bench_model_garden.py
writes one). Also prints the curves' values at every logged step as a markdown table.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import tensorflow as tf  # noqa: E402

from electra_tf import io_utils, rundir  # noqa: E402

CURVES = ("disc_loss", "disc_auc", "masked_lm_accuracy")
COLOURS = ("blue", "red", "green", "orange", "purple", "black")


def read_history(path):
    """The logged windows of a run directory or metrics JSON file, as a list of dicts with "step"."""
    if tf.io.gfile.isdir(path):
        path = os.path.join(path, rundir.METRICS_FILE)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path}: no such metrics file")
    history = io_utils.read_json(path)
    if not history or not all("step" in row for row in history):
        raise ValueError(f"{path}: not a list of logged windows with a 'step'")
    return history


def plot_curves(runs, path, size=(400, 280), curves=CURVES):
    """Writes a PNG of `curves` (metric names) for `runs` ({label: history}), the axes shared by the runs."""
    from PIL import Image, ImageDraw  # optional dependency of the benches only

    width, height = size
    margin, legend = 44, 16 * len(runs)
    image = Image.new("RGB", (width * len(curves), height + legend), "white")
    draw = ImageDraw.Draw(image)
    all_steps = [row["step"] for history in runs.values() for row in history]
    first, last = min(all_steps), max(all_steps)
    last = last if last > first else first + 1
    for panel, name in enumerate(curves):
        values = [row[name] for history in runs.values() for row in history]
        low, high = min(values), max(values)
        high = high if high > low else low + 1e-9
        left, right, top, bottom = panel * width + margin, (panel + 1) * width - 10, 25, height - 30
        draw.rectangle([left, top, right, bottom], outline="gray")
        for colour, history in zip(COLOURS, runs.values()):
            points = [(left + (row["step"] - first) / (last - first) * (right - left),
                       bottom - (row[name] - low) / (high - low) * (bottom - top)) for row in history]
            if len(points) > 1:
                draw.line(points, fill=colour, width=2)
            else:
                draw.ellipse([points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2], fill=colour)
        draw.text((left, 5), name, fill="black")
        draw.text((left - margin + 2, top), f"{high:.3g}", fill="black")
        draw.text((left - margin + 2, bottom - 10), f"{low:.3g}", fill="black")
        draw.text((left, bottom + 5), f"step {first}", fill="black")
        draw.text((right - 40, bottom + 5), f"{max(all_steps)}", fill="black")
    for index, (colour, label) in enumerate(zip(COLOURS, runs)):
        y = height + 16 * index
        draw.line([(margin, y + 7), (margin + 30, y + 7)], fill=colour, width=3)
        draw.text((margin + 38, y), label, fill="black")
    with io_utils.atomic_file(path, "wb") as handle:
        image.save(handle, format="PNG")


def curve_table(runs):
    """Markdown rows: per run and logged step, the three curves' values."""
    lines = ["| run | step | " + " | ".join(CURVES) + " |", "|---|---|" + "---|" * len(CURVES)]
    for label, history in runs.items():
        lines += [f"| {label} | {row['step']} | " + " | ".join(f"{row[name]:.4f}" for name in CURVES) + " |"
                  for row in history]
    return "\n".join(lines)


def parse_run(value):
    label, separator, path = value.partition("=")
    if not separator or not label or not path:
        raise argparse.ArgumentTypeError(f"--run {value!r}: expected LABEL=PATH")
    return label, path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=parse_run, action="append", required=True,
                        help="LABEL=PATH: a run directory or metrics JSON file (repeat for each run).")
    parser.add_argument("--output", required=True, help="PNG to write.")
    args = parser.parse_args(argv)
    try:
        runs = {label: read_history(path) for label, path in args.run}
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    plot_curves(runs, args.output)
    print(curve_table(runs))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
