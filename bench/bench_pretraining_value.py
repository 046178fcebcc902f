"""What pre-training buys: fine-tuning from our pre-trained discriminator vs from a random init of the same model.

    python -m bench.bench_pretraining_value --corpus FILE --work_dir DIR [--minutes 30] [--preset tiny] \\
        [--nsmc_dir D] [--korsts_dir D] [--seeds 3] [--vocab_size 8000] [--finetune_config configs/finetune/tiny.json]

1. prepare + vocab + corpus: the recipe runner's stages (`electra_tf.recipe.plan` of a recipe made of these flags:
   `python -m electra_tf.prepare` with `--cleaning`, default koelectra, `python -m electra_tf.vocab` with
   `--vocab_size` and the command's defaults, `python -m electra_tf.data.build_pretraining_data`); see
   scripts/make_nsmc.py for an NSMC-free corpus.
2. pre-training (the recipe's pre-training stage with `--preset`) for a wall-clock budget: a short probe run (`--probe_steps`) measures steps/s and the fixed
   start-up/export time; the real run gets `train_steps = steps/s x (budget - fixed time)`, so it ends by
   itself near the budget with the learning rate decayed to the end; exported to DIR/pretrain/export/.
3. a random init of the same architecture (same config.json, same vocab) exported to DIR/random_init.
4. `python -m electra_tf.finetuning` from each, with identical hparams, `--seeds` seeds each, on NSMC and KorSTS (the task
   directories given); NSMC has no dev file, so (as the KoELECTRA suite) its epoch is selected on its test set.
5. DIR/value.md + DIR/value.json (mean ± sd of the test metric per init, the difference and its standard error),
   DIR/pretraining_curves.png (disc_loss, disc_auc, masked_lm_accuracy against step).

Every step writes a completion marker (DIR/.done/) and is skipped when re-run: a killed run resumes (DIR pins
the pre-training settings: more seeds or other task directories are fine, another budget needs another DIR).

The default preset is `tiny`: on this project's 2-core CPU (shared, loaded) it ran 1.82 steps/s against 0.10 for
a hidden-256 / 4-layer / 128-token candidate, i.e. ~700 steps in 30 minutes for the candidate against ~10k
(~20M tokens, about one pass over the NSMC-free crawl) for tiny. A whole measurement:

    python scripts/make_nsmc.py --nsmc_repo NSMC_CLONE --out /tmp/nsmc --train 20000 --test 5000 \
        --corpus_out /tmp/nsmc_free.txt
    python scripts/make_korsts.py --kornlu_repo KORNLU_CLONE --out /tmp/korsts
    python -m bench.bench_pretraining_value --corpus /tmp/nsmc_free.txt --work_dir /tmp/value --minutes 30 \
        --nsmc_dir /tmp/nsmc --korsts_dir /tmp/korsts --seeds 3
"""

import argparse
import json
import math
import os
import statistics
import sys

import tensorflow as tf

from bench.common import ROOT
from electra_tf import io_utils, rundir
from electra_tf.config import ElectraConfig
from electra_tf.export import export_transformers
from electra_tf.models import build_model
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.pretraining.curves import plot_curves
from electra_tf.recipe import plan
from electra_tf.stages import Stage, StageFailed, marker_path, print_summary, run_stages, subprocess_env

TASKS = {"nsmc": "accuracy", "korsts": "spearman"}


def preset_path(preset):
    return preset if preset.endswith(".json") else os.path.join(ROOT, "configs", "pretrain", preset + ".json")


def run(stages, work_dir, rows):
    """Runs `stages` (skipping finished ones), adding their summary rows to `rows`; exits on a failure."""
    try:
        rows += run_stages(stages, work_dir, env=subprocess_env())
    except StageFailed as error:
        print_summary(rows + error.rows)
        sys.exit(f"error: {error}; re-run the same command to resume")


def pin_settings(args):
    """Records the settings the work directory's pre-training depends on; refuses a re-run with others."""
    path = os.path.join(args.work_dir, "bench_settings.json")
    wanted = {"corpus": args.corpus, "preset": args.preset, "vocab_size": args.vocab_size, "minutes": args.minutes,
              "probe_steps": args.probe_steps, "warmup_fraction": args.warmup_fraction}
    if tf.io.gfile.exists(path):
        found = io_utils.read_json(path)
        if found != wanted:
            changed = sorted(key for key in wanted if found.get(key) != wanted[key])
            sys.exit(f"error: --work_dir {args.work_dir} was pre-trained with other {', '.join(changed)} "
                     f"({path}): use another directory")
    else:
        io_utils.write_json(path, wanted)


def value_recipe(args):
    """The recipe these flags make: `--cleaning` text, a `--vocab_size` vocabulary (the vocab command's other
    defaults), the corpus builder's defaults and the `--preset` pre-training, for `electra_tf.recipe.plan`."""
    return {"name": "bench_pretraining_value",
            "prepare": {"cleaning": args.cleaning, "min_chars": 0, "dedupe": False},
            "vocab": {"vocab_size": args.vocab_size, "num_unused": 0, "limit_alphabet": 6000, "min_frequency": 2,
                      "pretokenizer": "none", "merge_vocab": False},
            "corpus": {"seed": 0, "num_shards": None},
            "pretrain": {"config": preset_path(args.preset), "overrides": {}}}


def planned_stages(args, hparams):
    """{name: Stage} of the recipe runner's prepare, vocab, corpus and pretrain stages, the run `hparams` given."""
    stages = plan(value_recipe(args), [args.corpus], args.work_dir, pretrain_overrides=hparams)
    return {stage.name: stage for stage in stages}


def retarget(stage, name, model_dir):
    """The pre-training `stage` under another name, writing to `model_dir` (the speed probe)."""
    command = [f"--model_dir={model_dir}" if part.startswith("--model_dir=") else part for part in stage.commands[0]]
    return Stage(name, [command], model_dir)


def stage_seconds(work_dir, name):
    """Wall seconds of a finished stage, from its completion marker."""
    return io_utils.read_json(marker_path(work_dir, name))["seconds"]


def read_metrics(model_dir):
    return io_utils.read_json(os.path.join(model_dir, rundir.METRICS_FILE))


def measured_speed(probe_dir, batch_size, wall_seconds, probe_steps):
    """(steps/s, fixed seconds) of the probe run: the median rate of its logged windows after the first
    (which holds the tracing), and the rest of its wall time (start-up, tracing, checkpoint, export)."""
    windows = read_metrics(probe_dir)[1:]
    if not windows:
        raise ValueError(f"{probe_dir}: the probe logged fewer than two windows: raise --probe_steps")
    rate = statistics.median(window["examples_per_second"] for window in windows) / batch_size
    return rate, max(0.0, wall_seconds - probe_steps / rate)


def budget_hparams(config, steps, warmup_fraction):
    """Overrides that make a run of `steps` steps: warm-up a fraction of it, ~200 log points, 10 checkpoints."""
    every = config.steps_per_execution
    log_steps = max(every, (steps // 200) // every * every)
    return {"train_steps": steps, "warmup_steps": max(1, int(steps * warmup_fraction)), "log_steps": log_steps,
            "save_checkpoints_steps": max(log_steps, steps // 10)}


def write_random_init(pretrained_dir, output_dir, vocab_file, seed):
    """Exports a freshly initialized discriminator of `pretrained_dir`'s architecture (same config, same vocab)."""
    import keras  # heavy; only this step needs it

    config = ElectraConfig.from_json_file(os.path.join(pretrained_dir, "config.json"))
    keras.utils.set_random_seed(seed)
    export_transformers(build_model(config, "discriminator"), output_dir, vocab_file)


def finetune_stage(args, task, data_dir, init_name, init_dir, seed):
    output_dir = finetune_dir(args.work_dir, task, init_name, seed)
    hparams = {**json.loads(args.finetune_hparams or "{}"), "seed": seed}
    command = [sys.executable, "-m", "electra_tf.finetuning", f"--task={task}",
               f"--config={args.finetune_config}", f"--init_checkpoint={init_dir}", f"--data_dir={data_dir}",
               f"--output_dir={output_dir}", f"--hparams={json.dumps(hparams, sort_keys=True)}", "--noprogress",
               "--noexport"]
    return Stage(f"finetune-{task}-{init_name}-seed{seed}", [command], output_dir)


def finetune_dir(work_dir, task, init_name, seed):
    return os.path.join(work_dir, "finetune", task, init_name, f"seed{seed}")


def read_score(work_dir, task, init_name, seed):
    results = io_utils.read_json(os.path.join(finetune_dir(work_dir, task, init_name, seed), "eval_results.json"))
    return float(results["test"][TASKS[task]])


def summarize(scores):
    """Mean and sample sd (0 for one score)."""
    return statistics.mean(scores), statistics.stdev(scores) if len(scores) > 1 else 0.0


def value_rows(scores):
    """Table rows from `{task: {"pretrained": [...], "random": [...]}}`."""
    rows = []
    for task, by_init in scores.items():
        (pre, pre_sd), (rand, rand_sd) = summarize(by_init["pretrained"]), summarize(by_init["random"])
        n = len(by_init["pretrained"])
        error = math.sqrt((pre_sd ** 2 + rand_sd ** 2) / n)
        rows.append({"task": task, "metric": f"test {TASKS[task]}", "pre-trained": f"{pre:.4f} ± {pre_sd:.4f}",
                     "random init": f"{rand:.4f} ± {rand_sd:.4f}", "difference": f"{pre - rand:+.4f} ± {error:.4f}",
                     "seeds": n})
    return rows


def markdown(title, lines, rows):
    columns = ["task", "metric", "pre-trained", "random init", "difference", "seeds"]
    table = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    table += ["| " + " | ".join(str(row[column]) for column in columns) + " |" for row in rows]
    return "\n".join([f"### {title}", "", *lines, "", *table,
                      "", "(mean ± sample sd over seeds; difference ± its standard error)"])


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True, help="Pre-training text: one sentence a line, blank lines "
                        "between documents (scripts/make_nsmc.py --corpus_out).")
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--minutes", type=float, default=30.0, help="Wall-clock budget of the pre-training run.")
    parser.add_argument("--preset", default="tiny", help="configs/pretrain preset name or JSON path.")
    parser.add_argument("--cleaning", default="koelectra", choices=["none", "koelectra", "kcelectra"],
                        help="electra_tf.prepare's cleaning preset for FILE.")
    parser.add_argument("--vocab_size", type=int, default=8000)
    parser.add_argument("--probe_steps", type=int, default=60, help="Steps of the speed-measuring probe run.")
    parser.add_argument("--warmup_fraction", type=float, default=0.05)
    parser.add_argument("--nsmc_dir", help="NSMC directory (ratings_train.txt, ratings_test.txt).")
    parser.add_argument("--korsts_dir", help="KorSTS directory (sts-{train,dev,test}.tsv).")
    parser.add_argument("--seeds", type=int, default=3, help="Fine-tuning seeds per init (0 .. seeds-1).")
    parser.add_argument("--finetune_config", default=os.path.join(ROOT, "configs", "finetune", "tiny.json"))
    parser.add_argument("--finetune_hparams", help="JSON overrides for both inits' fine-tuning.")
    args = parser.parse_args(argv)
    if not tf.io.gfile.exists(args.corpus):
        parser.error(f"--corpus {args.corpus}: no such file")
    if args.minutes <= 0 or args.seeds < 1 or args.probe_steps < 20:
        parser.error("--minutes must be positive, --seeds at least 1, --probe_steps at least 20")
    try:
        json.loads(args.finetune_hparams or "{}")
    except json.JSONDecodeError as error:
        parser.error(f"--finetune_hparams: invalid JSON ({error.msg})")
    return args


def main(argv=None):
    args = parse_args(argv)
    work = args.work_dir
    try:
        config = PretrainingConfig.from_json_file(preset_path(args.preset))
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: --preset: {error}")
    pin_settings(args)
    rows = []
    stages = planned_stages(args, None)
    run([stages[name] for name in ("prepare", "vocab", "corpus")], work, rows)
    vocab_file = stages["vocab"].output

    # speed probe -> train_steps that fill the budget
    probe_dir = os.path.join(work, "probe")
    probe = {"train_steps": args.probe_steps, "log_steps": config.steps_per_execution,
             "save_checkpoints_steps": args.probe_steps}
    run([retarget(planned_stages(args, probe)["pretrain"], "probe", probe_dir)], work, rows)
    rate, fixed = measured_speed(probe_dir, config.train_batch_size, stage_seconds(work, "probe"), args.probe_steps)
    speed = {"steps_per_second": rate, "fixed_seconds": fixed}
    budget = args.minutes * 60
    steps = max(config.steps_per_execution,
                int(speed["steps_per_second"] * max(budget - speed["fixed_seconds"], 0)))
    hparams = budget_hparams(config, steps, args.warmup_fraction)
    print(f"probe: {speed['steps_per_second']:.2f} steps/s, {speed['fixed_seconds']:.0f} s fixed -> "
          f"{steps} steps for {args.minutes:g} min", flush=True)
    pretrain = planned_stages(args, hparams)["pretrain"]
    run([pretrain], work, rows)
    model_dir = pretrain.output
    pretrained_dir = os.path.join(model_dir, "export", "discriminator")

    random_dir = os.path.join(work, "random_init")
    if not tf.io.gfile.exists(os.path.join(random_dir, "config.json")):
        write_random_init(pretrained_dir, random_dir, vocab_file, seed=config.seed)

    task_dirs = {task: directory for task, directory in (("nsmc", args.nsmc_dir), ("korsts", args.korsts_dir))
                 if directory}
    inits = {"pretrained": pretrained_dir, "random": random_dir}
    run([finetune_stage(args, task, data_dir, name, init_dir, seed)
         for task, data_dir in task_dirs.items() for name, init_dir in inits.items() for seed in range(args.seeds)],
        work, rows)
    print_summary(rows)

    history = read_metrics(model_dir)
    plot_curves({"ours": history}, os.path.join(work, "pretraining_curves.png"))
    scores = {task: {name: [read_score(work, task, name, seed) for seed in range(args.seeds)] for name in inits}
              for task in task_dirs}
    pretrain_seconds = stage_seconds(work, "pretrain")
    steps = rundir.read_run_configs(model_dir)[0].train_steps  # as run (a re-run skips the stage)
    discriminator = ElectraConfig.from_json_file(os.path.join(pretrained_dir, "config.json"))
    last = history[-1]
    preset = os.path.basename(preset_path(args.preset))
    lines = [f"Pre-training: preset `{preset}` (hidden {discriminator.hidden_size}, "
             f"{discriminator.num_hidden_layers} layers, vocab {discriminator.vocab_size}), {steps} steps of "
             f"{config.train_batch_size} x {config.max_seq_length} tokens in {pretrain_seconds / 60:.1f} min "
             f"(budget {args.minutes:g} min; probe {speed['steps_per_second']:.2f} steps/s); at the end "
             f"disc_auc {last['disc_auc']:.3f}, masked_lm_accuracy {last['masked_lm_accuracy']:.3f}.",
             f"Fine-tuning: `{os.path.relpath(args.finetune_config, ROOT)}` "
             f"{args.finetune_hparams or ''}, identical for both inits; NSMC's epoch selected on its test set "
             "(it has no dev file), KorSTS's on dev."]
    table_rows = value_rows(scores)
    text = markdown("Value of pre-training", lines, table_rows)
    io_utils.report(text, os.path.join(work, "value.md"))
    io_utils.write_json(os.path.join(work, "value.json"), {
        "preset": args.preset, "minutes": args.minutes, "train_steps": steps, "pretrain_seconds": pretrain_seconds,
        "probe": speed, "pretrain_hparams": hparams, "final_metrics": last, "finetune_config": args.finetune_config,
        "finetune_hparams": json.loads(args.finetune_hparams or "{}"), "scores": scores, "rows": table_rows})


if __name__ == "__main__":
    main()
