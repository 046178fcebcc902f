"""Re-runs the demo's fine-tuning stage of one pre-trained demo model for several seeds, in one or more source
trees (a branch and its base), and tabulates each run: test accuracy, best epoch, and the labels and
positive-class probabilities the SavedModel's `predict_text` gives for the two demo reviews and for a held-out
pair (the first positive and the first negative row of the sample's test file), with the run's wall and CPU
seconds. It answers whether a change moves the demo's behaviour over seeds or only which seeds are right.
Writes WORK_DIR/results.json and results.png (scores per seed) and prints the markdown table; `--mask_check`
prints instead the statistics of one dropout layer's keyed and seed-generator masks.

    python -m electra_tf.pipeline --work_dir W    # once, for the pre-trained model
    python -m experiments.demo_seeds --pretrained_work_dir W --tree keyed=/work/wt/demo \
        --tree main=/work/wt/demo-base --seeds 42,43,44,45,46,47 --work_dir runs/demo-seeds

Each tree's fine-tuning command is the one its own `pipeline.demo_stages(...)[5]` plans (as the demo test
re-runs it), with `--output_dir` under WORK_DIR, run from that tree with only that tree on `PYTHONPATH`, one
run at a time, the trees taking turns per seed. A finished run (its `run.json`) is not run again.
"""

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from electra_tf import pipeline
from electra_tf.finetuning.tasks import get_task

# Prints {seed: the fine-tuning stage's command} as the tree's own pipeline plans it (run inside that tree).
_PLAN = """
import json, sys
from electra_tf import pipeline, recipe
recipe_ = recipe.load_recipe("koelectra-small-v3")
print(json.dumps({seed: pipeline.demo_stages(sys.argv[1], recipe_, "data/sample_corpus.txt", "data/sample_nsmc",
                                             finetune_hparams={"seed": int(seed)})[5].commands[0]
                  for seed in sys.argv[2].split(",")}))
"""


# The free-form reviews the demo used before it took the test file's rows (`pipeline.held_out_reviews`).
FREE_FORM_REVIEWS = ["배우들 연기가 정말 훌륭하고 이야기도 감동적이었어요", "시간이 아까울 정도로 지루하고 뻔한 영화였다"]
FREE_FORM_LABELS = ["1", "0"]


def held_out_pair(data_dir):
    """The first positive and the first negative row of the task's test file, as (text, label) pairs."""
    return list(zip(pipeline.held_out_reviews(data_dir), pipeline.REVIEW_LABELS))


def tree_commands(tree, pretrained_work_dir, seeds, python):
    """{seed: fine-tuning command} planned by `tree`'s pipeline (run there with only `tree` on PYTHONPATH)."""
    output = subprocess.run([python, "-c", _PLAN, pretrained_work_dir, ",".join(map(str, seeds))], cwd=tree,
                            env=_tree_env(tree), capture_output=True, text=True, check=True).stdout
    return {int(seed): command for seed, command in json.loads(output.strip().splitlines()[-1]).items()}


def _tree_env(tree):
    return {**os.environ, "PYTHONPATH": tree, "TF_CPP_MIN_LOG_LEVEL": "3"}


def with_output_dir(command, output_dir):
    """The command with its `--output_dir` replaced (and no progress bar), as the demo test runs it."""
    return [f"--output_dir={output_dir}" if argument.startswith("--output_dir=") else argument
            for argument in command] + ["--noprogress"]


def predict(saved_model_dir, texts):
    """(labels, positive-class probabilities) of `predict_text` on `texts`."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the SavedModel's tokenizer ops)

    from electra_tf.serving import latest_version

    outputs = tf.saved_model.load(latest_version(saved_model_dir)).signatures["predict_text"](
        text=tf.constant(texts))
    positive = get_task(pipeline.TASK).labels.index("1")
    return ([label.decode() for label in outputs["label"].numpy()],
            [float(p) for p in outputs["probabilities"].numpy()[:, positive]])


def run_one(tree, command, output_dir, texts):
    """Runs one fine-tuning (its log in OUTPUT_DIR/run.log) and returns its record (also OUTPUT_DIR/run.json)."""
    record_path = os.path.join(output_dir, "run.json")
    if os.path.exists(record_path):
        with open(record_path, encoding="utf-8") as handle:
            return json.load(handle)
    os.makedirs(output_dir, exist_ok=True)
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    with open(os.path.join(output_dir, "run.log"), "w", encoding="utf-8") as log:
        subprocess.run(with_output_dir(command, output_dir), cwd=tree, env=_tree_env(tree), stdout=log,
                       stderr=subprocess.STDOUT, check=True)
    wall, after = time.monotonic() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.path.join(output_dir, "eval_results.json"), encoding="utf-8") as handle:
        results = json.load(handle)
    labels, positive = predict(os.path.join(output_dir, "saved_model"), texts)
    record = {"seed": results["hparams"]["seed"], "accuracy": results["test"]["accuracy"],
              "best_epoch": results["best"]["epoch"], "labels": labels, "positive": positive,
              "wall_seconds": wall,
              "cpu_seconds": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)}
    with open(record_path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
    os.replace(record_path + ".tmp", record_path)
    return record


def _cell(labels, positive, expected):
    marks = " ".join(f"{label} ({p:.3f})" for label, p in zip(labels, positive))
    return f"{marks} {'✓' if labels == expected else '✗'}"


def table(runs, expected):
    """Markdown: one row per (tree, seed), then per tree the median accuracy and the seeds labelling each pair
    right. `runs` is {tree name: [record, ...]}; `expected` the labels of the two demo reviews then the pair."""
    demo, pair = expected[:2], expected[2:]
    lines = ["| tree | seed | test accuracy | best epoch | demo reviews: label (P(positive)) | "
             "held-out pair: label (P(positive)) | wall s | CPU s |", "|---|---|---|---|---|---|---|---|"]
    for name, records in runs.items():
        for r in records:
            lines.append(f"| {name} | {r['seed']} | {r['accuracy']:.2f} | {r['best_epoch']} | "
                         f"{_cell(r['labels'][:2], r['positive'][:2], demo)} | "
                         f"{_cell(r['labels'][2:], r['positive'][2:], pair)} | {r['wall_seconds']:.0f} | "
                         f"{r['cpu_seconds']:.0f} |")
    lines += ["", "| tree | runs | median test accuracy (min–max) | demo reviews both right | "
              "held-out pair both right | median wall s | median CPU s |", "|---|---|---|---|---|---|---|"]
    for name, records in runs.items():
        accuracies = [r["accuracy"] for r in records]
        lines.append(f"| {name} | {len(records)} | {statistics.median(accuracies):.3f} "
                     f"({min(accuracies):.2f}–{max(accuracies):.2f}) | "
                     f"{sum(r['labels'][:2] == demo for r in records)} of {len(records)} | "
                     f"{sum(r['labels'][2:] == pair for r in records)} of {len(records)} | "
                     f"{statistics.median(r['wall_seconds'] for r in records):.0f} | "
                     f"{statistics.median(r['cpu_seconds'] for r in records):.0f} |")
    return "\n".join(lines)


def plot(runs, texts, path):
    """Test accuracy and each text's P(positive) per seed (`texts`: their short names), one marker per tree."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot, ticker

    figure, axes = pyplot.subplots(1, 1 + len(texts), figsize=(3.2 * (1 + len(texts)), 3.2), sharex=True)
    titles = ["test accuracy"] + [f"P(positive): {text}" for text in texts]
    for index, (axis, title) in enumerate(zip(axes, titles)):
        for offset, (name, records) in enumerate(runs.items()):
            seeds = [r["seed"] + 0.15 * offset for r in records]
            values = [r["accuracy"] if index == 0 else r["positive"][index - 1] for r in records]
            axis.plot(seeds, values, "o", label=name)
        if index:
            axis.axhline(0.5, color="grey", linewidth=0.5)
            axis.set_ylim(-0.05, 1.05)
        axis.set_title(title, fontsize=8)
        axis.set_xlabel("seed")
        axis.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def mask_statistics(rows=200_000, units=128, rate=0.1, seeds=(1, 2, 3, 4, 5)):
    """One line per seed and source (keyed: this branch's fine-tuning; seed generator: main's) with z-scores
    (deviation / standard error) of one `Dropout`'s masks: each draw's drop fraction against the rate it rounds
    to, and the correlations of its two draws, of neighbouring rows, of rows 16 apart and of neighbouring units."""
    import numpy as np
    import tensorflow as tf

    from electra_tf.dropout import _LEVELS, Dropout, keyed_by_example

    def correlation(first, second):
        first, second = first.astype(np.float32), second.astype(np.float32)
        return float(((first - first.mean()) * (second - second.mean())).mean() / (first.std() * second.std()))

    inputs, exact_rate, lines = tf.ones([rows, units]), round(rate * _LEVELS) / _LEVELS, []
    for seed in seeds:
        for source in ("keyed", "seed generator"):
            layer = Dropout(rate, seed=None if source == "keyed" else seed)
            layer.stream = 3 if source == "keyed" else None
            with keyed_by_example(seed, 0) if source == "keyed" else contextlib.nullcontext():
                first, second = [layer(inputs, training=True, draw=draw).numpy() == 0 for draw in (0, 1)]
            fraction_se, correlation_se = (exact_rate * (1 - exact_rate) / first.size) ** 0.5, first.size ** -0.5
            scores = [(first.mean() - exact_rate) / fraction_se, (second.mean() - exact_rate) / fraction_se]
            scores += [correlation(*pair) / correlation_se for pair in (
                (first, second), (first[1:], first[:-1]), (first[16:], first[:-16]), (first[:, 1:], first[:, :-1]))]
            lines.append(f"{source} seed {seed}: z of the drop fractions {scores[0]:+.1f} {scores[1]:+.1f}, of the "
                         f"correlations: draws {scores[2]:+.1f}, rows {scores[3]:+.1f}, rows 16 apart "
                         f"{scores[4]:+.1f}, units {scores[5]:+.1f}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mask_check", action="store_true",
                        help="Only print the dropout masks' statistics (keyed and seed-generator) and exit.")
    parser.add_argument("--pretrained_work_dir", help="A finished demo run's --work_dir.")
    parser.add_argument("--tree", action="append", metavar="NAME=PATH",
                        help="A source tree to fine-tune with (repeatable).")
    parser.add_argument("--seeds", default="42,43,44,45,46,47", help="Comma-separated fine-tuning seeds.")
    parser.add_argument("--work_dir", help="Where the runs and results go.")
    parser.add_argument("--data_dir", default="data/sample_nsmc", help="The sample data (for the held-out pair).")
    args = parser.parse_args(argv)
    if args.mask_check:
        print("\n".join(mask_statistics()))
        return
    if not (args.pretrained_work_dir and args.tree and args.work_dir):
        parser.error("--pretrained_work_dir, --tree and --work_dir are required (or --mask_check)")
    trees = dict(tree.split("=", 1) for tree in args.tree)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    pair = held_out_pair(args.data_dir)
    texts = FREE_FORM_REVIEWS + [text for text, _ in pair]
    expected = FREE_FORM_LABELS + [label for _, label in pair]
    pretrained = os.path.abspath(args.pretrained_work_dir)
    commands = {name: tree_commands(os.path.abspath(tree), pretrained, seeds, sys.executable)
                for name, tree in trees.items()}
    runs = {name: [] for name in trees}
    for seed in seeds:  # the trees take turns, so a change in the machine's load falls on both
        for name, tree in trees.items():
            output_dir = os.path.abspath(os.path.join(args.work_dir, name, f"seed{seed}"))
            print(f"{name} seed {seed} → {output_dir}", file=sys.stderr, flush=True)
            runs[name].append(run_one(os.path.abspath(tree), commands[name][seed], output_dir, texts))
    with open(os.path.join(args.work_dir, "results.json"), "w", encoding="utf-8") as handle:
        json.dump({"texts": texts, "expected": expected, "runs": runs}, handle, ensure_ascii=False, indent=1)
    names = [f"demo review {index + 1} ({label})" for index, label in enumerate(FREE_FORM_LABELS)]
    plot(runs, names + [f"held-out row ({label})" for _, label in pair], os.path.join(args.work_dir, "results.png"))
    print(table(runs, expected))


if __name__ == "__main__":
    main()
