"""Recipes: one published model's procedure, from raw text to a fine-tuned model, as one resumable command.

    python -m electra_tf.recipe --recipe koelectra-small-v3 --input 'raw/*.txt' --work_dir runs/ks3 \\
        [--scale full|tiny] [--until prepare|vocab|corpus|pretrain|export|finetune] \\
        [--merge_vocab KOELECTRA/vocab.txt] [--finetune_task nsmc --finetune_data_dir data/nsmc]

A recipe (`configs/recipes/<name>.json`) holds the `prepare`, `vocab`, `corpus`, `pretrain` and `finetune`
settings with a source (or an assumption) for each value; the pre-training and fine-tuning numbers live in the
configs it names (`configs/pretrain/*.json`, `configs/finetune/*.json`), the recipe only overrides. Each stage
runs the project's own command line in a subprocess (printed first) and, once it succeeds, writes a completion
marker `WORK/.done/<stage>.json` atomically: a stage with a marker is skipped, a killed one runs again (the
commands themselves resume: pre-training from its last checkpoint). `--scale tiny` keeps the recipe's text
preparation and vocabulary options but swaps in the tiny model, step counts, vocabulary and sequence length,
so a laptop finishes in minutes.
"""

import dataclasses
import json
import os
import subprocess
import sys
import time

from absl import flags

from electra_tf import cli, io_utils
from electra_tf.hparams import field_names, parse_hparams
from electra_tf.pretraining.config import PretrainingConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE_DIR = os.path.join(ROOT, "configs", "recipes")
STAGES = ("prepare", "vocab", "corpus", "pretrain", "export", "finetune")
SECTIONS = {
    "prepare": ("cleaning", "min_chars", "dedupe"),
    "vocab": ("vocab_size", "num_unused", "limit_alphabet", "min_frequency", "pretokenizer", "merge_vocab"),
    "corpus": ("seed", "num_shards"),
    "pretrain": ("config", "overrides"),
    "finetune": ("config", "hparams"),
}
# What `--scale tiny` swaps in (the recipe's cleaning, pre-tokenizer and vocabulary options stay).
TINY = {"pretrain_config": "configs/pretrain/tiny.json", "finetune_config": "configs/finetune/tiny.json",
        "vocab_size": 4000, "max_unused": 20}


class RecipeError(ValueError):
    """A recipe file or a runner flag that cannot work; the message names the file or flag."""


class StageFailed(RuntimeError):
    def __init__(self, stage, returncode):
        super().__init__(f"stage {stage} failed (exit {returncode})")
        self.stage, self.returncode = stage, returncode


@dataclasses.dataclass
class Stage:
    """One step: the commands it runs in order and the path its result is read from."""

    name: str
    commands: list
    output: str = ""


# Recipes ---------------------------------------------------------------------------------------------------------

def recipe_names():
    return sorted(name[:-5] for name in os.listdir(RECIPE_DIR) if name.endswith(".json"))


def recipe_path(name_or_path):
    if name_or_path.endswith(".json"):
        return name_or_path
    path = os.path.join(RECIPE_DIR, name_or_path + ".json")
    if not os.path.exists(path):
        raise RecipeError(f"--recipe: unknown recipe {name_or_path!r}; known: {', '.join(recipe_names())}")
    return path


def load_recipe(name_or_path):
    """Reads and checks a recipe: every section present, no unknown key, every value sourced or assumed."""
    path = recipe_path(name_or_path)
    try:
        recipe = io_utils.read_json(path)
    except (FileNotFoundError, ValueError) as error:
        raise RecipeError(str(error)) from error
    recipe.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    unknown = set(recipe) - {"name", "description", *SECTIONS}
    if unknown:
        raise RecipeError(f"{path}: unknown section(s) {sorted(unknown)}")
    for section, keys in SECTIONS.items():
        values = recipe.get(section)
        if not isinstance(values, dict):
            raise RecipeError(f"{path}: missing section {section!r}")
        unknown = set(values) - set(keys) - {"sources", "assumptions"}
        missing = set(keys) - set(values)
        if unknown or missing:
            raise RecipeError(f"{path}: section {section!r}: unknown {sorted(unknown)}, missing {sorted(missing)}")
        explained = set(values.get("sources", {})) | set(values.get("assumptions", {}))
        unexplained = [key for key in keys if values[key] != {} and key not in explained]
        if unexplained:
            raise RecipeError(f"{path}: section {section!r}: no source or assumption for {unexplained}")
    return recipe


def _repo_path(relative):
    """A repository file as the user should type it: relative when run from the checkout, else absolute."""
    path = os.path.join(ROOT, relative)
    return relative if os.path.abspath(os.getcwd()) == ROOT else path


def pretraining_settings(recipe, scale, extra_overrides=None):
    """(config path, overrides, loaded PretrainingConfig) of the pre-training stage at `scale`."""
    if scale == "tiny":
        config, overrides = TINY["pretrain_config"], {}
    else:
        config, overrides = recipe["pretrain"]["config"], dict(recipe["pretrain"]["overrides"])
    overrides.update(extra_overrides or {})
    path = _repo_path(config)
    return path, overrides, PretrainingConfig.from_json_file(path, overrides)


# Planning ----------------------------------------------------------------------------------------------------------

def plan(recipe, inputs, work_dir, scale="full", merge_vocab=None, finetune_task=None, finetune_data_dir=None,
         pretrain_overrides=None, python=None):
    """The recipe's stages, in order, as the commands a user would type."""
    if scale not in ("full", "tiny"):
        raise RecipeError(f"--scale must be full or tiny, got {scale!r}")
    if recipe["vocab"]["merge_vocab"] and not merge_vocab and scale == "full":
        raise RecipeError(f"--merge_vocab: recipe {recipe['name']} merges another vocabulary (see its vocab "
                          "sources, e.g. KoELECTRA's vocab.txt): pass its path")
    if bool(finetune_task) != bool(finetune_data_dir):
        raise RecipeError("--finetune_task and --finetune_data_dir go together")
    python = python or sys.executable
    join = os.path.join
    prepared = join(work_dir, "prepare", "corpus.txt")
    vocab_dir, corpus_dir = join(work_dir, "vocab"), join(work_dir, "corpus")
    vocab_file, model_dir, export_dir = join(vocab_dir, "vocab.txt"), join(work_dir, "pretrain"), join(work_dir, "export")

    prepare = recipe["prepare"]
    prepare_command = [python, "-m", "electra_tf.prepare", *[f"--input={pattern}" for pattern in inputs],
                       f"--output={prepared}", f"--cleaning={prepare['cleaning']}"]
    if prepare["min_chars"]:
        prepare_command.append(f"--min_chars={prepare['min_chars']}")
    if prepare["dedupe"]:
        prepare_command.append("--dedupe")

    vocab = recipe["vocab"]
    vocab_size = TINY["vocab_size"] if scale == "tiny" else vocab["vocab_size"]
    num_unused = min(vocab["num_unused"], TINY["max_unused"]) if scale == "tiny" else vocab["num_unused"]
    vocab_command = [python, "-m", "electra_tf.vocab", f"--input={prepared}", f"--output_dir={vocab_dir}",
                     f"--vocab_size={vocab_size}", f"--num_unused={num_unused}",
                     f"--limit_alphabet={vocab['limit_alphabet']}", f"--min_frequency={vocab['min_frequency']}",
                     f"--pretokenizer={vocab['pretokenizer']}"]
    if vocab["merge_vocab"] and merge_vocab:
        vocab_command.append(f"--merge_vocab={merge_vocab}")

    config_path, overrides, config = pretraining_settings(recipe, scale, pretrain_overrides)
    corpus = recipe["corpus"]
    corpus_command = [python, "-m", "electra_tf.data.build_pretraining_data", f"--input={prepared}",
                      f"--vocab={vocab_file}", f"--output_dir={corpus_dir}", f"--max_seq_length={config.max_seq_length}",
                      f"--seed={corpus['seed']}", "--overwrite"]
    if corpus["num_shards"]:
        corpus_command.append(f"--num_shards={corpus['num_shards']}")

    pretrain_command = [python, _repo_path("run_pretraining.py"), f"--config={config_path}",
                        f"--data_dir={corpus_dir}", f"--vocab={vocab_file}", f"--model_dir={model_dir}"]
    if overrides:
        pretrain_command.append(f"--hparams={json.dumps(overrides, sort_keys=True)}")

    export_commands = [[python, "-m", "electra_tf.export", f"--input={model_dir}",
                        f"--output_dir={join(export_dir, network)}", f"--network={network}", f"--vocab={vocab_file}"]
                       for network in ("discriminator", "generator")]
    stages = [
        Stage("prepare", [prepare_command], prepared),
        Stage("vocab", [vocab_command], vocab_file),
        Stage("corpus", [corpus_command], corpus_dir),
        Stage("pretrain", [pretrain_command], model_dir),
        Stage("export", export_commands, join(export_dir, "discriminator")),
    ]
    if finetune_task:
        finetune = recipe["finetune"]
        finetune_config = TINY["finetune_config"] if scale == "tiny" else finetune["config"]
        command = [python, _repo_path("run_finetuning.py"), f"--task={finetune_task}",
                   f"--config={_repo_path(finetune_config)}", f"--init_checkpoint={join(export_dir, 'discriminator')}",
                   f"--data_dir={finetune_data_dir}", f"--output_dir={finetune_output_dir(work_dir, finetune_task)}"]
        if finetune["hparams"] and scale == "full":
            command.append(f"--hparams={json.dumps(finetune['hparams'], sort_keys=True)}")
        stages.append(Stage("finetune", [command], finetune_output_dir(work_dir, finetune_task)))
    return stages


def finetune_output_dir(work_dir, task):
    return os.path.join(work_dir, "finetune", task)


# Running -----------------------------------------------------------------------------------------------------------

def marker_path(work_dir, stage_name):
    return os.path.join(work_dir, ".done", f"{stage_name}.json")


def pin_work_dir(work_dir, recipe_name, scale):
    """Records which recipe and scale `work_dir` belongs to; refuses to mix two in one directory."""
    path = os.path.join(work_dir, "recipe.json")
    wanted = {"recipe": recipe_name, "scale": scale}
    if os.path.exists(path):
        found = io_utils.read_json(path)
        if {key: found.get(key) for key in wanted} != wanted:
            raise RecipeError(f"--work_dir {work_dir} holds recipe {found.get('recipe')} at scale "
                              f"{found.get('scale')}, not {recipe_name} at scale {scale}: use another directory")
    else:
        io_utils.write_json(path, wanted)


def run_stages(stages, work_dir, until=None, run=subprocess.run, env=None):
    """Runs `stages` in order up to `until` (a stage name), skipping those with a completion marker.

    Returns the summary rows `(stage, status, seconds, output)`; raises `StageFailed` (with the rows so far in
    `.rows`) when a command exits with an error, leaving that stage without a marker.
    """
    names = [stage.name for stage in stages]
    if until is not None and until not in names:
        raise RecipeError(f"--until must be one of {', '.join(names)}, got {until!r}")
    rows = []
    for stage in stages:
        marker = marker_path(work_dir, stage.name)
        if os.path.exists(marker):
            rows.append((stage.name, "skipped (done)", 0.0, stage.output))
        else:
            start = time.time()
            for command in stage.commands:
                print(f"\n=== {stage.name}: {' '.join(command)}", flush=True)
                returncode = run(command, env=env).returncode
                if returncode != 0:
                    rows.append((stage.name, f"FAILED (exit {returncode})", time.time() - start, ""))
                    error = StageFailed(stage.name, returncode)
                    error.rows = rows
                    raise error
            seconds = time.time() - start
            io_utils.write_json(marker, {"stage": stage.name, "commands": stage.commands, "seconds": round(seconds, 1),
                                         "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
            rows.append((stage.name, "done", seconds, stage.output))
        if stage.name == until:
            break
    return rows


def subprocess_env():
    """The environment for the stages: this checkout importable wherever the user runs from."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    return env


def print_summary(rows):
    print("\n| stage | status | seconds | output |\n|---|---|---|---|")
    for name, status, seconds, output in rows:
        print(f"| {name} | {status} | {seconds:.0f} | {output} |")


def run_recipe(stages, work_dir, until=None):
    """Runs the stages with the summary table printed at the end; returns the process exit code."""
    try:
        rows = run_stages(stages, work_dir, until, env=subprocess_env())
    except StageFailed as error:
        print_summary(error.rows)
        print(f"error: {error}; re-run the same command to retry it", file=sys.stderr)
        return error.returncode if error.returncode > 0 else 1  # a killed command has a negative code
    print_summary(rows)
    return 0


# Command line ------------------------------------------------------------------------------------------------------

FLAGS = flags.FLAGS


def define_flags():
    """Defines this command's flags (only when it runs as a program, so importing it defines none)."""
    flags.DEFINE_string("recipe", None, "Recipe name (configs/recipes/NAME.json) or path to a recipe JSON.")
    flags.DEFINE_multi_string("input", None, "Raw text file or glob (local or gs://); repeatable.")
    flags.DEFINE_string("work_dir", None, "Directory for every stage's output (one recipe and scale per directory).")
    flags.DEFINE_enum("scale", "full", ["full", "tiny"], "full: the published settings; tiny: a laptop-sized run.")
    flags.DEFINE_enum("until", None, list(STAGES), "Stop after this stage.")
    flags.DEFINE_string("merge_vocab", None, "vocab.txt whose missing tokens are added to the trained vocabulary "
                        "(recipes with merge_vocab, e.g. KcELECTRA: KoELECTRA's vocab.txt).")
    flags.DEFINE_string("finetune_task", None, "Fine-tuning task after export (run_finetuning.py --task).")
    flags.DEFINE_string("finetune_data_dir", None, "The task's data directory.")
    flags.DEFINE_string("hparams", None, "JSON overrides for the pre-training config, on top of the recipe's.")


def main(argv):
    del argv
    for name in ("recipe", "input", "work_dir"):
        if not FLAGS[name].value:
            raise RecipeError(f"--{name} is required")
    if FLAGS.until == "finetune" and not FLAGS.finetune_task:
        raise RecipeError("--until finetune needs --finetune_task and --finetune_data_dir")
    recipe = load_recipe(FLAGS.recipe)
    stages = plan(recipe, FLAGS.input, FLAGS.work_dir, FLAGS.scale, FLAGS.merge_vocab, FLAGS.finetune_task,
                  FLAGS.finetune_data_dir, parse_hparams(FLAGS.hparams, field_names(PretrainingConfig)))
    pin_work_dir(FLAGS.work_dir, recipe["name"], FLAGS.scale)
    sys.exit(run_recipe(stages, FLAGS.work_dir, FLAGS.until))


if __name__ == "__main__":
    define_flags()
    cli.run(main)
