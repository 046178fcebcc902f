"""Recipes: one published model's procedure, from raw text to a fine-tuned model, as one resumable command.

    python -m electra_tf.recipe --recipe koelectra-small-v3 --input 'raw/*.txt' --work_dir runs/ks3 \\
        [--scale full|tiny] [--until prepare|vocab|extend|corpus|pretrain|export|finetune] \\
        [--merge_vocab KOELECTRA/vocab.txt] [--finetune_task nsmc --finetune_data_dir data/nsmc [--num_trials 5]]
    python -m electra_tf.recipe --recipe domain-adapt --init_checkpoint RELEASED --input domain.txt --work_dir W

A recipe (`configs/recipes/<name>.json`, shipped in the package: see `config_files`) holds the `prepare`,
`vocab`, `corpus`, `pretrain` and `finetune` settings with a source (or an assumption) for each value; the
pre-training and fine-tuning numbers live in the configs it names (`configs/pretrain/*.json`,
`configs/finetune/*.json`), the recipe only overrides. Each stage runs the project's own command line
(`python -m electra_tf.…`) as a resumable stage (`electra_tf.stages`: a stage is skipped only while its
completion marker says that what it was run from still holds; the input text, a merged vocabulary, configs and a
task's data count as its inputs). `--scale tiny` keeps the recipe's text preparation and vocabulary
options but swaps in the tiny model, step counts, vocabulary and sequence length, so a laptop finishes in minutes.

A continuation recipe (one with a `continue` section: `domain-adapt`) continues a released model
(`--init_checkpoint`) instead: its trained vocabulary is appended to the released one in an `extend` stage, and
pre-training takes the released architecture (`released_settings`; at either scale) and the section's schedule.
"""

import dataclasses
import json
import os
import sys

import tensorflow as tf
from absl import flags

from electra_tf import cli, config_files, io_utils
from electra_tf.config import ElectraConfig
from electra_tf.hparams import field_names, parse_hparams
from electra_tf.pretrained import detect_source, find_vocab, read_config
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.stages import Stage, run_with_summary

RECIPE_DIR = config_files.packaged_dir("recipes")
STAGES = ("prepare", "vocab", "corpus", "pretrain", "export", "finetune")
# A continuation recipe (domain-adapt) extends the released vocabulary with the trained one between the two.
CONTINUATION_STAGES = ("prepare", "vocab", "extend", "corpus", "pretrain", "export", "finetune")
SECTIONS = {
    "prepare": ("cleaning", "min_chars", "dedupe"),
    "vocab": ("vocab_size", "num_unused", "limit_alphabet", "min_frequency", "pretokenizer", "merge_vocab"),
    "corpus": ("seed", "num_shards"),
    "pretrain": ("config", "overrides"),
    "finetune": ("config", "hparams"),
}
# The section that makes a recipe a continuation of a released model (--init_checkpoint): its schedule, on
# top of the pretrain config's (warmup_fraction: warmup_steps as a fraction of train_steps).
CONTINUE_SECTION = ("continue", ("learning_rate", "warmup_fraction", "train_steps"))
# The released config's fields that are not its architecture: the run sets vocab_size from the extended vocabulary.
NOT_ARCHITECTURE = {"vocab_size", "architectures", "id2label", "label2id", "extra"}
# What `--scale tiny` swaps in (the recipe's cleaning, pre-tokenizer and vocabulary options stay).
TINY = {"pretrain_config": "configs/pretrain/tiny.json", "finetune_config": "configs/finetune/tiny.json",
        "vocab_size": 4000, "max_unused": 20}


class RecipeError(ValueError):
    """A recipe file or a runner flag that cannot work; the message names the file or flag."""


# Recipes ---------------------------------------------------------------------------------------------------------

def recipe_names():
    return config_files.names("recipes")


def recipe_path(name_or_path):
    """The recipe file `--recipe` names: a packaged recipe's name, or a JSON file."""
    if name_or_path.endswith(".json") and tf.io.gfile.exists(name_or_path):
        return name_or_path
    path = config_files.packaged("recipes", name_or_path)
    if path is None:
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
    unknown = set(recipe) - {"name", "description", *SECTIONS, CONTINUE_SECTION[0]}
    if unknown:
        raise RecipeError(f"{path}: unknown section(s) {sorted(unknown)}")
    sections = {**SECTIONS, **dict([CONTINUE_SECTION] if is_continuation(recipe) else [])}
    for section, keys in sections.items():
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


def is_continuation(recipe):
    """Whether `recipe` continues a released model (it has a `continue` section) rather than training one."""
    return CONTINUE_SECTION[0] in recipe


def config_argument(value, kind, where):
    """(what a stage's `--config` gets, the file it reads) for a config named in a recipe: a packaged config
    goes by its bare name, which the training commands resolve from package data wherever they run, and is
    read (and checksummed) at its packaged path, the same from any directory."""
    path = config_files.resolve(value, kind, where)
    packaged = config_files.packaged(kind, value)
    if packaged and os.path.realpath(path) == os.path.realpath(packaged):
        relative = os.path.relpath(os.path.realpath(packaged), os.path.realpath(config_files.packaged_dir(kind)))
        if os.sep not in relative:
            return relative[:-len(".json")], packaged
    return path, path


def pretraining_settings(recipe, scale, extra_overrides=None):
    """(config file, overrides, loaded PretrainingConfig) of the pre-training stage at `scale`."""
    if scale == "tiny":
        config, overrides = TINY["pretrain_config"], {}
    else:
        config, overrides = recipe["pretrain"]["config"], dict(recipe["pretrain"]["overrides"])
    overrides.update(extra_overrides or {})
    path = config_files.resolve(config, "pretrain", f"recipe {recipe['name']}: pretrain config")
    return path, overrides, PretrainingConfig.from_json_file(path, overrides)


def released_settings(init_checkpoint, init_generator_checkpoint=None):
    """The pre-training settings that make the run's networks the released ones (read from their configs, no
    weights): ``model_overrides``, every field of the released discriminator's config but its vocabulary size,
    and, when a generator is released too (an original TF1 checkpoint, one of our runs, or
    `init_generator_checkpoint`), its size as fractions of the discriminator's. Raises `RecipeError` naming the
    flag when one is unreadable or its generator is not a shape pre-training builds."""
    def config_of(path, flag, network="discriminator"):
        try:
            return read_config(path, network)
        except (FileNotFoundError, ValueError) as error:
            raise RecipeError(f"{flag}: {error}") from error

    discriminator = config_of(init_checkpoint, "--init_checkpoint")
    settings = {"model_overrides": {field.name: getattr(discriminator, field.name)
                                    for field in dataclasses.fields(ElectraConfig)
                                    if field.name not in NOT_ARCHITECTURE}}
    both = detect_source(init_checkpoint) in ("tf1", "pretraining")  # pre-training restores both networks
    if both and init_generator_checkpoint:
        raise RecipeError(f"--init_generator_checkpoint: --init_checkpoint {init_checkpoint} holds both networks "
                          "(an original TF1 checkpoint or one of our runs): its generator is the one continued")
    if both:
        flag, generator = "--init_checkpoint", config_of(init_checkpoint, "--init_checkpoint", "generator")
    elif init_generator_checkpoint:
        flag, generator = "--init_generator_checkpoint", config_of(init_generator_checkpoint,
                                                                   "--init_generator_checkpoint", "generator")
    else:
        return settings  # the generator starts fresh, at the pretrain config's size
    settings.update(generator_hidden_size=generator.hidden_size / discriminator.hidden_size,
                    generator_layers=generator.num_hidden_layers / discriminator.num_hidden_layers)
    derived = PretrainingConfig(**{name: settings[name] for name in ("generator_hidden_size", "generator_layers")}
                                ).generator_config(discriminator)
    shape = lambda config: (config.hidden_size, config.num_hidden_layers, config.num_attention_heads,  # noqa: E731
                            config.intermediate_size, config.embedding_size)
    if shape(derived) != shape(generator):
        raise RecipeError(f"{flag}: its generator (hidden, layers, heads, feed-forward, embedding {shape(generator)}) "
                          f"is not a shape pre-training builds from the discriminator's ({shape(derived)})")
    return settings


def continuation_settings(recipe, scale, init_checkpoint, init_generator_checkpoint=None, pretrain_overrides=None):
    """The `--hparams` of a continuation recipe's pre-training: the released architecture
    (`released_settings`), the `continue` section's learning rate and (at full scale) train_steps, warmup_steps
    as its warmup_fraction of the run's train_steps, then `pretrain_overrides`."""
    schedule, overrides = recipe[CONTINUE_SECTION[0]], dict(pretrain_overrides or {})
    released = released_settings(init_checkpoint, init_generator_checkpoint)
    settings = {**released, "learning_rate": schedule["learning_rate"],
                **({"train_steps": schedule["train_steps"]} if scale == "full" else {}), **overrides,
                # overridden fields of the architecture, the rest stays the released one
                "model_overrides": {**released["model_overrides"], **overrides.get("model_overrides", {})}}
    if "warmup_steps" not in overrides:
        train_steps = pretraining_settings(recipe, scale, settings)[2].train_steps
        settings["warmup_steps"] = int(round(schedule["warmup_fraction"] * train_steps))
    return settings


def continuation_recipes():
    """The names of the packaged continuation recipes (`is_continuation`)."""
    return [name for name in recipe_names() if is_continuation(load_recipe(name))]


def check_continuation_flags(recipe, init_checkpoint, init_generator_checkpoint, released_vocab):
    """The released vocabulary a continuation recipe extends (`released_vocab`, or the one beside
    `init_checkpoint`); None for a recipe that trains from scratch, which takes none of these flags."""
    if not is_continuation(recipe):
        given = [flag for flag, value in (("--init_checkpoint", init_checkpoint),
                                          ("--init_generator_checkpoint", init_generator_checkpoint),
                                          ("--vocab", released_vocab)) if value]
        if given:
            raise RecipeError(f"{given[0]}: recipe {recipe['name']} trains a model from scratch on its own "
                              f"vocabulary; to continue a released model use --recipe "
                              f"{' or '.join(continuation_recipes())}")
        return None
    if not init_checkpoint:
        raise RecipeError(f"--init_checkpoint is required by recipe {recipe['name']}: the released model to "
                          "continue (a transformers discriminator directory, a keras-hub preset, an original TF1 "
                          "checkpoint or one of our runs)")
    try:
        detect_source(init_checkpoint)
    except FileNotFoundError as error:
        raise RecipeError(f"--init_checkpoint: {error}") from error
    flag, released_vocab = ("--vocab", released_vocab) if released_vocab else ("--init_checkpoint",
                                                                               find_vocab(init_checkpoint))
    if not released_vocab:
        raise RecipeError(f"--init_checkpoint: no vocab.txt beside {init_checkpoint}: pass the released "
                          "vocabulary as --vocab")
    try:
        return io_utils.existing_file(released_vocab, inside="vocab.txt")
    except (FileNotFoundError, IsADirectoryError) as error:
        raise RecipeError(f"{flag}: {error}") from error


def checkpoint_inputs(path):
    """The pattern(s) of the files a checkpoint flag reads: a directory, or a checkpoint prefix's files."""
    return path if tf.io.gfile.isdir(path) else path + ".*"


# Planning ----------------------------------------------------------------------------------------------------------

def plan(recipe, inputs, work_dir, scale="full", merge_vocab=None, finetune_task=None, finetune_data_dir=None,
         pretrain_overrides=None, python=None, finetune_hparams=None, num_trials=None, init_checkpoint=None,
         init_generator_checkpoint=None, released_vocab=None):
    """The recipe's stages, in order, as the commands a user would type (`finetune_hparams`: fine-tuning
    overrides on top of the recipe's, at either scale; `num_trials`: fine-tuning trials, see
    `finetuning.trials`). A continuation recipe (`is_continuation`) needs `init_checkpoint`, the released model
    (its vocabulary: `released_vocab`, default the one beside it; its generator: `init_generator_checkpoint`),
    whose architecture its pre-training takes (`released_settings`), and adds the stage `extend`."""
    released_vocab = check_continuation_flags(recipe, init_checkpoint, init_generator_checkpoint, released_vocab)
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
    vocab_file = join(vocab_dir, "vocab.txt")
    model_dir, export_dir = join(work_dir, "pretrain"), join(work_dir, "export")
    # the vocabulary of the corpus and the model: the trained one, or the released one extended with it
    model_vocab = join(work_dir, "extend", "vocab.txt") if released_vocab else vocab_file

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
    merged = vocab["merge_vocab"] and merge_vocab
    if merged:
        vocab_command.append(f"--merge_vocab={merge_vocab}")

    if released_vocab:
        pretrain_overrides = continuation_settings(recipe, scale, init_checkpoint, init_generator_checkpoint,
                                                   pretrain_overrides)
    config_path, overrides, config = pretraining_settings(recipe, scale, pretrain_overrides)
    if released_vocab:
        try:
            config.discriminator_config()
        except ValueError as error:  # e.g. a max_seq_length over the released max_position_embeddings
            raise RecipeError(f"--init_checkpoint {init_checkpoint}: {error}") from error
    config_flag, config_file = config_argument(config_path, "pretrain", f"recipe {recipe['name']}: pretrain config")
    corpus = recipe["corpus"]
    corpus_command = [python, "-m", "electra_tf.data.build_pretraining_data", f"--input={prepared}",
                      f"--vocab={model_vocab}", f"--output_dir={corpus_dir}",
                      f"--max_seq_length={config.max_seq_length}", f"--seed={corpus['seed']}", "--overwrite"]
    if corpus["num_shards"]:
        corpus_command.append(f"--num_shards={corpus['num_shards']}")

    pretrain_command = [python, "-m", "electra_tf.pretraining", f"--config={config_flag}",
                        f"--data_dir={corpus_dir}", f"--vocab={released_vocab or vocab_file}",
                        f"--model_dir={model_dir}"]
    pretrain_inputs = (config_file,)
    if released_vocab:
        pretrain_command.append(f"--init_checkpoint={init_checkpoint}")
        if init_generator_checkpoint:
            pretrain_command.append(f"--init_generator_checkpoint={init_generator_checkpoint}")
        pretrain_command.append(f"--extend_vocab={vocab_file}")
        pretrain_inputs += tuple(checkpoint_inputs(path) for path in (init_checkpoint, init_generator_checkpoint)
                                 if path) + (released_vocab,)
    if overrides:
        pretrain_command.append(f"--hparams={json.dumps(overrides, sort_keys=True)}")

    export_commands = [[python, "-m", "electra_tf.export", f"--input={model_dir}",
                        f"--output_dir={join(export_dir, network)}", f"--network={network}", f"--vocab={model_vocab}"]
                       for network in ("discriminator", "generator")]
    stages = [
        Stage("prepare", [prepare_command], prepared, inputs=tuple(inputs)),
        Stage("vocab", [vocab_command], vocab_file, inputs=(merge_vocab,) if merged else ()),
    ]
    if released_vocab:
        stages.append(Stage("extend", [[python, "-m", "electra_tf.pretraining.vocab_extension",
                                        f"--vocab={released_vocab}", f"--extend_vocab={vocab_file}",
                                        f"--output_dir={os.path.dirname(model_vocab)}"]],
                            model_vocab, inputs=(released_vocab,)))
    stages += [
        Stage("corpus", [corpus_command], corpus_dir, outputs=(join(corpus_dir, "stats.json"),)),
        Stage("pretrain", [pretrain_command], model_dir, inputs=pretrain_inputs, resumable=True),
        Stage("export", export_commands, join(export_dir, "discriminator"),
              outputs=tuple(join(export_dir, network, "config.json") for network in ("discriminator", "generator"))),
    ]
    if finetune_task:
        finetune = recipe["finetune"]
        where = f"recipe {recipe['name']}: finetune config"
        config_flag, finetune_config = config_argument(
            TINY["finetune_config"] if scale == "tiny" else finetune["config"], "finetune", where)
        output_dir = finetune_output_dir(work_dir, finetune_task)
        command = [python, "-m", "electra_tf.finetuning", f"--task={finetune_task}", f"--config={config_flag}",
                   f"--init_checkpoint={join(export_dir, 'discriminator')}", f"--data_dir={finetune_data_dir}",
                   f"--output_dir={output_dir}"]
        hparams = {**(finetune["hparams"] if scale == "full" else {}), **(finetune_hparams or {})}
        if hparams:
            command.append(f"--hparams={json.dumps(hparams, sort_keys=True)}")
        if num_trials:
            command.append(f"--num_trials={num_trials}")
        stages.append(Stage("finetune", [command], output_dir, inputs=(finetune_config, finetune_data_dir),
                            outputs=(join(output_dir, RESULTS_FILE),), resumable=True, result=test_score))
    return stages


RESULTS_FILE = "eval_results.json"


def finetune_output_dir(work_dir, task):
    return os.path.join(work_dir, "finetune", task)


def test_score(stage):
    """The fine-tuning stage's test metric, e.g. ``test accuracy 0.9900`` (from its eval_results.json)."""
    path = os.path.join(stage.output, RESULTS_FILE)
    if not tf.io.gfile.exists(path):
        return ""
    results = io_utils.read_json(path)
    value = results.get("test", {}).get(results.get("metric"))
    return f"test {results['metric']} {value:.4f}" if isinstance(value, (int, float)) else ""


def check_paths(inputs=(), merge_vocab=None, finetune_data_dir=None, input_flag="--input",
                data_flag="--finetune_data_dir"):
    """Checks the runner's path flags before anything runs: one error naming the flag when one cannot work."""
    for pattern in inputs:
        try:
            io_utils.expand_globs(pattern)
        except (FileNotFoundError, IsADirectoryError) as error:  # the message says what a directory needs
            raise RecipeError(f"{input_flag}: {error}") from error
    if merge_vocab:
        try:
            io_utils.existing_file(merge_vocab, inside="vocab.txt")  # the vocab stage takes DIR/vocab.txt too
        except (FileNotFoundError, IsADirectoryError) as error:
            raise RecipeError(f"--merge_vocab: {error}") from error
    if finetune_data_dir and not tf.io.gfile.isdir(finetune_data_dir):
        raise RecipeError(f"{data_flag}: {finetune_data_dir} is not a directory")


def pin_work_dir(work_dir, recipe_name, scale):
    """Records which recipe and scale `work_dir` belongs to; refuses to mix two in one directory."""
    path = os.path.join(work_dir, "recipe.json")
    wanted = {"recipe": recipe_name, "scale": scale}
    if tf.io.gfile.exists(path):
        found = io_utils.read_json(path)
        if {key: found.get(key) for key in wanted} != wanted:
            raise RecipeError(f"--work_dir {work_dir} holds recipe {found.get('recipe')} at scale "
                              f"{found.get('scale')}, not {recipe_name} at scale {scale}: use another directory")
    else:
        io_utils.write_json(path, wanted)


# Command line ------------------------------------------------------------------------------------------------------

FLAGS = flags.FLAGS


def define_flags():
    """Defines this command's flags (only when it runs as a program, so importing it defines none)."""
    flags.DEFINE_string("recipe", None, f"Recipe name ({', '.join(recipe_names())}) or path to a recipe JSON.")
    flags.DEFINE_multi_string("input", None, "Raw text file or glob (local or gs://); repeatable.")
    flags.DEFINE_string("work_dir", None, "Directory for every stage's output (one recipe and scale per directory).")
    flags.DEFINE_enum("scale", "full", ["full", "tiny"], "full: the published settings; tiny: a laptop-sized run.")
    flags.DEFINE_enum("until", None, list(CONTINUATION_STAGES), "Stop after this stage (extend: continuation "
                      "recipes only).")
    flags.DEFINE_string("merge_vocab", None, "vocab.txt whose missing tokens are added to the trained vocabulary "
                        "(recipes with merge_vocab, e.g. KcELECTRA: KoELECTRA's vocab.txt).")
    flags.DEFINE_string("finetune_task", None, "Fine-tuning task after export (`python -m electra_tf.finetuning "
                        "--task`).")
    flags.DEFINE_string("finetune_data_dir", None, "The task's data directory.")
    flags.DEFINE_string("hparams", None, "JSON overrides for the pre-training config, on top of the recipe's.")
    flags.DEFINE_string("init_checkpoint", None, "Continuation recipes (domain-adapt): the released model to continue "
                        "(transformers discriminator directory, keras-hub preset, original TF1 checkpoint or one of "
                        "our runs); the run takes its architecture and continues from its weights.")
    flags.DEFINE_string("init_generator_checkpoint", None, "Continuation recipes: the released transformers "
                        "generator directory (default: a fresh generator, unless --init_checkpoint holds both).")
    flags.DEFINE_string("vocab", None, "Continuation recipes: the released vocab.txt to extend (default: the one "
                        "beside --init_checkpoint).")
    flags.DEFINE_integer("num_trials", None, "Fine-tuning trials (seeds seed, seed+1, ...); the stage's result is "
                         "their median (`python -m electra_tf.finetuning --num_trials`).", lower_bound=1)


def main(argv):
    del argv
    for name in ("recipe", "input", "work_dir"):
        if not FLAGS[name].value:
            raise RecipeError(f"--{name} is required")
    if FLAGS.until == "finetune" and not FLAGS.finetune_task:
        raise RecipeError("--until finetune needs --finetune_task and --finetune_data_dir")
    recipe = load_recipe(FLAGS.recipe)
    stages = plan(recipe, FLAGS.input, FLAGS.work_dir, FLAGS.scale, FLAGS.merge_vocab, FLAGS.finetune_task,
                  FLAGS.finetune_data_dir, parse_hparams(FLAGS.hparams, field_names(PretrainingConfig)),
                  num_trials=FLAGS.num_trials, init_checkpoint=FLAGS.init_checkpoint,
                  init_generator_checkpoint=FLAGS.init_generator_checkpoint, released_vocab=FLAGS.vocab)
    if FLAGS.until and FLAGS.until not in [stage.name for stage in stages]:
        raise RecipeError(f"--until {FLAGS.until}: recipe {recipe['name']} has no such stage (its stages: "
                          f"{', '.join(stage.name for stage in stages)})")
    check_paths(FLAGS.input, FLAGS.merge_vocab, FLAGS.finetune_data_dir)
    pin_work_dir(FLAGS.work_dir, recipe["name"], FLAGS.scale)
    sys.exit(run_with_summary(stages, FLAGS.work_dir, FLAGS.until))


if __name__ == "__main__":
    define_flags()
    cli.run(main)
