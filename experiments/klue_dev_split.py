"""Fine-tunes a KLUE task on a split of its official dev file, for a few seeds (KLUE's train files are not in its
repository). The dev file is split into train and evaluation parts (70/30 by default); records sharing a
`--group_by` field (KLUE-NLI's premise: each has one hypothesis per label) stay on one side, since a premise seen
in training with two labels gives away the third. Writes WORK_DIR/results.tsv (each seed's best epoch and
scores, then the medians) and results.png (each seed's dev score per epoch).

    python -m experiments.klue_dev_split --task klue-ner --dev_file klue-ner-v1.1_dev.tsv \
        --init_checkpoint DIR --work_dir runs/klue-ner-split --seeds 42,1,2

`--plot NAME=WORK_DIR ... --output PNG` draws several such runs (e.g. two inits) in one figure instead.
"""

import argparse
import collections
import glob
import json
import os
import random
import statistics

from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.run import finetune
from electra_tf.finetuning.tasks import get_task


def _split_ner(text, fraction, seed):
    """(train, evaluation) file texts: the header comments, then the shuffled sentence blocks."""
    lines = text.split("\n")
    header = [line for line in lines[:5] if line.startswith("## ") and not line.startswith("## klue")]
    blocks = "\n".join(lines[len(header):]).strip("\n").split("\n\n")
    random.Random(seed).shuffle(blocks)
    cut = int(fraction * len(blocks))
    return ["\n".join(header) + "\n" + "\n\n".join(part) + "\n" for part in (blocks[:cut], blocks[cut:])]


def _split_records(text, fraction, seed, group_by):
    """(train, evaluation) JSON texts; records with the same `group_by` value stay together."""
    records = json.loads(text)
    groups = collections.defaultdict(list)
    for index, record in enumerate(records):
        groups[record[group_by] if group_by else index].append(record)
    keys = sorted(groups, key=str)
    random.Random(seed).shuffle(keys)
    train, evaluation = [], []
    for key in keys:
        fits = len(train) + len(groups[key]) <= fraction * len(records)
        (train if fits else evaluation).extend(groups[key])
    return [json.dumps(part, ensure_ascii=False, indent=1) for part in (train, evaluation)]


def write_split(task, dev_file, data_dir, fraction=0.7, seed=0, group_by=None):
    """Writes the task's train and dev files into `data_dir`; returns their sizes."""
    with open(dev_file, encoding="utf-8") as handle:
        text = handle.read()
    parts = (_split_ner(text, fraction, seed) if task.name == "klue-ner"
             else _split_records(text, fraction, seed, group_by))
    os.makedirs(data_dir, exist_ok=True)
    for split, part in zip(("train", "dev"), parts):
        with open(os.path.join(data_dir, task.splits[split]), "w", encoding="utf-8") as handle:
            handle.write(part)
    return [len(task.read(data_dir, split).examples) for split in ("train", "dev")]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plot", nargs="+", metavar="NAME=WORK_DIR", help="only draw these runs into --output")
    parser.add_argument("--output", help="the PNG of --plot")
    parser.add_argument("--task")
    parser.add_argument("--dev_file", help="the task's official dev file")
    parser.add_argument("--init_checkpoint")
    parser.add_argument("--config", default="configs/finetune/tiny.json")
    parser.add_argument("--hparams", default='{"max_seq_length": 128}')
    parser.add_argument("--seeds", default="42,1,2")
    parser.add_argument("--group_by", default=None, help="record field kept on one side (default: premise for NLI)")
    parser.add_argument("--work_dir")
    args = parser.parse_args()
    if args.plot:
        runs = dict(spec.split("=", 1) for spec in args.plot)
        _plot({name: _curves(directory) for name, directory in runs.items()}, args.output)
        return
    if not all((args.task, args.dev_file, args.init_checkpoint, args.work_dir)):
        parser.error("--task, --dev_file, --init_checkpoint and --work_dir are needed (or --plot)")
    task = get_task(args.task)
    group_by = args.group_by or ("premise" if task.name == "klue-nli" else None)
    data_dir = os.path.join(args.work_dir, "data")
    sizes = write_split(task, args.dev_file, data_dir, group_by=group_by)
    print(f"{task.name}: {sizes[0]} train / {sizes[1]} evaluation examples")
    rows = []
    for seed in [int(seed) for seed in args.seeds.split(",")]:
        hparams = load_hparams(args.config, task.name, {**json.loads(args.hparams), "seed": seed})
        output_dir = os.path.join(args.work_dir, f"seed-{seed}")
        results = finetune(get_task(args.task), hparams, args.init_checkpoint, data_dir, output_dir,
                           progress=False, export=False)
        rows.append((seed, results["best"]["epoch"], results["best"]["dev"]))
    names = list(task.metrics)
    with open(os.path.join(args.work_dir, "results.tsv"), "w", encoding="utf-8") as handle:
        handle.write("\t".join(["seed", "best_epoch", *names]) + "\n")
        for seed, epoch, scores in rows:
            handle.write("\t".join([str(seed), str(epoch), *(f"{scores[name]:.4f}" for name in names)]) + "\n")
        medians = [f"{statistics.median(scores[name] for _, _, scores in rows):.4f}" for name in names]
        handle.write("\t".join(["median", "", *medians]) + "\n")
    print(open(os.path.join(args.work_dir, "results.tsv"), encoding="utf-8").read())
    _plot({"": _curves(args.work_dir)}, os.path.join(args.work_dir, "results.png"))


def _curves(work_dir):
    """`(task, metric, {seed: [dev score per epoch]})` of the seeds run into `work_dir`."""
    curves, paths = {}, sorted(glob.glob(os.path.join(work_dir, "seed-*", "eval_results.json")))
    if not paths:
        raise SystemExit(f"no {work_dir}/seed-*/eval_results.json")
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            results = json.load(handle)
        seed = os.path.basename(os.path.dirname(path))[len("seed-"):]
        curves[seed] = [epoch["dev"][results["metric"]] for epoch in results["epochs"]]
    return results["task"], results["metric"], curves


def _plot(runs, path):
    """Each run's seeds as lines of dev score per epoch, one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(5.5, 3.4))
    for colour, (name, (task, metric, curves)) in enumerate(runs.items()):
        for marker, (seed, scores) in zip("osd^v", curves.items()):
            axes.plot(range(1, len(scores) + 1), scores, marker=marker, color=f"C{colour}",
                      label=f"{name} seed {seed}".strip())
    axes.set_xlabel("epoch")
    axes.set_ylabel(f"dev {metric}")
    axes.set_title(f"{task} on a 70/30 split of its dev file")
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
