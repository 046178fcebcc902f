"""Recipes: every published number against the seed projects' READMEs, the configs they name, and the runner."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from electra_tf import config_files
from electra_tf import recipe as recipes
from electra_tf import stages as runner
from electra_tf.config import ElectraConfig
from electra_tf.finetuning.config import load_hparams
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.tokenization import load_vocab

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KOE = "monologg/KoELECTRA README (Vocabulary, Pretraining Details, About KoELECTRA) + docs/wordpiece_vocab.md"
DIALOG = "skplanet/Dialog-KoELECTRA README (Released Models, Vocabulary) + pretrain/data/config/small_config_*.json"
KC = "Beomi/KcELECTRA README (Tokenizer Train: 30,000 + KoELECTRA's vocab; 848k steps) + released vocab.txt"
TUNIB = "tunib-ai/tunib-electra README (small models: 14M / 18M parameters; nothing else published)"
GOOGLE = "google-research/electra configure_pretraining.py + README (BERT uncased vocab, 30,522)"

# None = not published: the recipe (or the pre-training config's `source`) must call it an assumption.
# vocab_size is the trained size (special and [unused] tokens included, before any merge); final_vocab the model's.
FIELDS = ("vocab_size", "num_unused", "limit_alphabet", "min_frequency", "pretokenizer", "final_vocab",
          "max_seq_length", "batch", "lr", "steps", "generator_hidden", "hidden", "layers", "heads", "ffn", "embedding")
SMALL, BASE = (256, 12, 4, 1024, 128), (768, 12, 12, 3072, 768)
PUBLISHED = {  # name: (source, vocab_size, unused, alphabet, min_freq, pretok, final vocab, seq, batch, lr, steps, gen, shape)
    "koelectra-small-v1": (KOE, 32200, 200, 6000, 2, "none", 32200, 512, 512, 5e-4, 300_000, 256, SMALL),
    "koelectra-small-v2": (KOE, 32200, None, None, None, None, 32200, 512, 512, 5e-4, 300_000, 256, SMALL),
    "koelectra-small-v3": (KOE, 35000, None, None, None, "mecab", 35000, 512, 512, 5e-4, 800_000, 256, SMALL),
    "koelectra-base-v1": (KOE, 32200, 200, 6000, 2, "none", 32200, 512, 256, 2e-4, 700_000, 256, BASE),
    "koelectra-base-v2": (KOE, 32200, None, None, None, None, 32200, 512, 256, 2e-4, 700_000, 256, BASE),
    "koelectra-base-v3": (KOE, 35000, None, None, None, "mecab", 35000, 512, 256, 2e-4, 1_500_000, 256, BASE),
    "dialog-koelectra-small": (DIALOG, 40000, 500, 6000, 3, "mecab", 40000, 128, 512, 1e-4, 700_000, 256, SMALL),
    "kcelectra-base": (KC, 31000, 1000, None, None, "none", 50135, None, None, None, 848_000, None, BASE),
    "kcelectra-base-v2022": (KC, None, None, None, None, None, 54343, None, None, None, None, None, BASE),
    "tunib-electra-ko-small": (TUNIB, None, None, None, None, None, None, None, None, None, None, None, SMALL),
    "tunib-electra-ko-en-small": (TUNIB, None, None, None, None, None, None, None, None, None, None, None, SMALL),
    "google-electra-small": (GOOGLE, 30522, 994, None, None, "none", 30522, 128, 128, 5e-4, 1_000_000, 64, SMALL),
}
PRETRAIN_FIELDS = {"max_seq_length": "max_seq_length", "batch": "train_batch_size", "lr": "learning_rate",
                   "steps": "train_steps"}


def _published(name):
    source, *values, shape = PUBLISHED[name]
    return dict(zip(FIELDS, [*values, *shape]))


def test_every_seed_model_has_a_recipe():
    """Each packaged recipe is a seed model's (checked below against its published numbers) or a continuation
    of a released one (domain-adapt, checked with the tests at the end)."""
    seeds = [name for name in recipes.recipe_names() if not recipes.is_continuation(recipes.load_recipe(name))]
    assert seeds == sorted(PUBLISHED)
    assert recipes.continuation_recipes() == ["domain-adapt"]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_numbers(name):
    expected = _published(name)
    recipe = recipes.load_recipe(name)
    vocab = recipe["vocab"]
    for field in ("vocab_size", "num_unused", "limit_alphabet", "min_frequency", "pretokenizer"):
        if expected[field] is None:
            assert field in vocab["assumptions"], (name, field)
        else:
            assert vocab[field] == expected[field], (name, field)
            assert field in vocab["sources"], (name, field)
    _, overrides, config = recipes.pretraining_settings(recipe, "full")
    source = config.source.lower()
    for field, attribute in PRETRAIN_FIELDS.items():
        if expected[field] is None:
            assert "assumed" in source or "not published" in source, (name, field, config.source)
        else:
            assert getattr(config, attribute) == pytest.approx(expected[field]), (name, field)
    discriminator = config.discriminator_config()
    generator = config.generator_config(discriminator)
    if expected["final_vocab"] is not None:
        assert discriminator.vocab_size == expected["final_vocab"], name
    if expected["generator_hidden"] is None:
        assert "generator size not published" in source or "assumed" in source, name
    else:
        assert generator.hidden_size == expected["generator_hidden"], name
    shape = (discriminator.hidden_size, discriminator.num_hidden_layers, discriminator.num_attention_heads,
             discriminator.intermediate_size, discriminator.embedding_size)
    assert shape == tuple(expected[field] for field in ("hidden", "layers", "heads", "ffn", "embedding")), name
    assert config.max_seq_length <= discriminator.max_position_embeddings


def test_published_procedures():
    """The non-numeric published steps: cleaning, filters, merging (KcELECTRA and Dialog README examples)."""
    kc = recipes.load_recipe("kcelectra-base")
    assert (kc["prepare"]["cleaning"], kc["prepare"]["min_chars"], kc["prepare"]["dedupe"]) == ("kcelectra", 10, True)
    assert kc["vocab"]["merge_vocab"] is True
    assert recipes.load_recipe("koelectra-small-v3")["prepare"]["dedupe"] is True  # KoELECTRA preprocessing step 8
    dialog_model = ElectraConfig.from_preset("dialog-koelectra-small")
    assert dialog_model.max_position_embeddings == 128


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_referenced_configs_exist_and_load(name):
    recipe = recipes.load_recipe(name)
    path = os.path.join(ROOT, recipe["pretrain"]["config"])
    PretrainingConfig.from_json_file(path, recipe["pretrain"]["overrides"]).discriminator_config()
    finetune_config = os.path.join(ROOT, recipe["finetune"]["config"])
    tasks = json.load(open(finetune_config))["tasks"]
    for task in [None, *tasks]:
        load_hparams(finetune_config, task, recipe["finetune"]["hparams"] or None)
    for scale_config in (recipes.TINY["pretrain_config"], recipes.TINY["finetune_config"]):
        assert os.path.exists(os.path.join(ROOT, scale_config))


def test_config_loaders_reject_a_misspelt_override():
    recipe = recipes.load_recipe("koelectra-small-v3")
    recipe["pretrain"]["overrides"] = {"train_step": 10}
    with pytest.raises(ValueError, match="train_step"):
        recipes.pretraining_settings(recipe, "full")
    with pytest.raises(ValueError, match="learnin_rate"):
        load_hparams(os.path.join(ROOT, recipe["finetune"]["config"]), "nsmc", {"learnin_rate": 1e-4})


def _write_recipe(tmp_path, change):
    recipe = json.load(open(os.path.join(recipes.RECIPE_DIR, "dialog-koelectra-small.json")))
    change(recipe)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(recipe))
    return str(path)


def test_recipe_loader_rejects_unknown_keys_and_unsourced_values(tmp_path):
    path = _write_recipe(tmp_path, lambda r: r["vocab"].update(vocab_sise=3))
    with pytest.raises(recipes.RecipeError, match=r"r.json: section 'vocab': unknown \['vocab_sise'\]"):
        recipes.load_recipe(path)
    path = _write_recipe(tmp_path, lambda r: r["vocab"]["sources"].pop("min_frequency"))
    with pytest.raises(recipes.RecipeError, match=r"no source or assumption for \['min_frequency'\]"):
        recipes.load_recipe(path)
    with pytest.raises(recipes.RecipeError, match="unknown recipe 'nope'"):
        recipes.load_recipe("nope")


# The plan: which commands each stage runs ---------------------------------------------------------------------------

def _flags(stage):
    return [argument for command in stage.commands for argument in command]


def test_plan_runs_the_published_settings_in_stage_order():
    stages = recipes.plan(recipes.load_recipe("kcelectra-base"), ["raw/*.txt"], "w", merge_vocab="ko/vocab.txt",
                          finetune_task="nsmc", finetune_data_dir="data/nsmc", python="py")
    assert [stage.name for stage in stages] == list(recipes.STAGES)
    prepare, vocab, corpus, pretrain, export, finetune = stages
    assert prepare.commands == [["py", "-m", "electra_tf.prepare", "--input=raw/*.txt", "--output=w/prepare/corpus.txt",
                                 "--cleaning=kcelectra", "--min_chars=10", "--dedupe"]]
    assert {"--input=w/prepare/corpus.txt", "--vocab_size=31000", "--num_unused=1000",
            "--merge_vocab=ko/vocab.txt"} <= set(_flags(vocab))
    assert {"--max_seq_length=512", "--vocab=w/vocab/vocab.txt", "--input=w/prepare/corpus.txt"} <= set(_flags(corpus))
    modules = ["electra_tf.prepare", "electra_tf.vocab", "electra_tf.data.build_pretraining_data",
               "electra_tf.pretraining", "electra_tf.export", "electra_tf.export", "electra_tf.finetuning"]
    assert [command[:3] for stage in stages for command in stage.commands] == [["py", "-m", m] for m in modules]
    assert "--config=kcelectra-base" in _flags(pretrain)  # packaged: by name, resolved wherever it runs
    assert pretrain.inputs == (config_files.packaged("pretrain", "kcelectra-base"),)
    assert [command[command.index("-m") + 1] for command in export.commands] == ["electra_tf.export"] * 2
    assert {"--network=discriminator", "--network=generator"} <= set(_flags(export))
    assert {"--task=nsmc", "--init_checkpoint=w/export/discriminator", "--output_dir=w/finetune/nsmc"} <= set(
        _flags(finetune))


def test_plan_dialog_vocabulary_and_sequence_length():
    stages = recipes.plan(recipes.load_recipe("dialog-koelectra-small"), ["raw.txt"], "w")
    flags = set(_flags(stages[1])) | set(_flags(stages[2]))
    assert {"--vocab_size=40000", "--num_unused=500", "--limit_alphabet=6000", "--min_frequency=3",
            "--pretokenizer=mecab", "--max_seq_length=128"} <= flags
    assert not any(flag.startswith("--merge_vocab") for flag in flags)
    assert [stage.name for stage in stages] == list(recipes.STAGES[:-1])  # no fine-tuning task asked for


def test_plan_overrides_and_finetune_hparams_reach_the_commands():
    stages = recipes.plan(recipes.load_recipe("kcelectra-base-v2022"), ["raw.txt"], "w", merge_vocab="v.txt")
    assert '--hparams={"model_preset": "kcelectra-base-v2022"}' in _flags(stages[3])
    recipe = recipes.load_recipe("google-electra-small")
    stages = recipes.plan(recipe, ["raw.txt"], "w", finetune_task="nsmc", finetune_data_dir="d")
    config = [flag.split("=", 1)[1] for flag in _flags(stages[-1]) if flag.startswith("--config=")]
    assert config[0] == "google-electra-small"
    assert load_hparams(config_files.resolve(config[0], "finetune"), "nsmc").layerwise_lr_decay == 0.8
    recipe["finetune"]["hparams"] = {"learning_rate": 1e-4}
    stages = recipes.plan(recipe, ["raw.txt"], "w", finetune_task="nsmc", finetune_data_dir="d")
    hparams = [flag for flag in _flags(stages[-1]) if flag.startswith("--hparams=")]
    assert json.loads(hparams[0].split("=", 1)[1]) == {"learning_rate": 1e-4}
    assert not any(flag.startswith("--num_trials") for flag in _flags(stages[-1]))
    stages = recipes.plan(recipe, ["raw.txt"], "w", finetune_task="nsmc", finetune_data_dir="d", num_trials=5)
    assert "--num_trials=5" in _flags(stages[-1])


def test_tiny_scale_swaps_model_steps_vocabulary_and_length():
    recipe = recipes.load_recipe("koelectra-base-v3")
    stages = recipes.plan(recipe, ["raw.txt"], "w", scale="tiny", finetune_task="nsmc", finetune_data_dir="d")
    flags = {flag for stage in stages for flag in _flags(stage)}
    tiny = PretrainingConfig.from_json_file(os.path.join(ROOT, recipes.TINY["pretrain_config"]))
    assert {"--vocab_size=4000", "--pretokenizer=mecab", f"--max_seq_length={tiny.max_seq_length}",
            "--cleaning=koelectra", "--dedupe"} <= flags
    assert "--config=tiny" in _flags(stages[3]) and "--config=tiny" in _flags(stages[-1])
    assert not any("koelectra-base-v3.json" in flag for flag in flags)
    assert tiny.train_steps <= 1000 and tiny.model_preset == "tiny"


def test_plan_errors_name_the_flag():
    kc = recipes.load_recipe("kcelectra-base")
    with pytest.raises(recipes.RecipeError, match="--merge_vocab"):
        recipes.plan(kc, ["raw.txt"], "w")
    recipes.plan(kc, ["raw.txt"], "w", scale="tiny")  # tiny runs without the other vocabulary
    with pytest.raises(recipes.RecipeError, match="--finetune_task and --finetune_data_dir"):
        recipes.plan(kc, ["raw.txt"], "w", merge_vocab="v.txt", finetune_task="nsmc")


# Running: order, skipping, resuming, --until ---------------------------------------------------------------------------

def _logging_stage(name, log, exit_code=0, kill=False, inputs=(), resumable=False):
    """A stage that appends its name to `log` and writes its output file beside it (`inputs` are only
    recorded)."""
    output = str(log.parent / f"{name}.out")
    code = f"open({str(log)!r}, 'a').write({name!r} + '\\n')"
    if kill:
        code += "; import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    elif exit_code:
        code += f"; raise SystemExit({exit_code})"
    code += f"; open({output!r}, 'w').write('x')"
    return runner.Stage(name, [[sys.executable, "-c", code]], output, inputs=tuple(inputs), resumable=resumable)


def _ran(log):
    return log.read_text().split() if log.exists() else []


def test_stages_run_in_order_then_skip_when_complete(tmp_path):
    log, work = tmp_path / "log", str(tmp_path / "work")
    stages = [_logging_stage(name, log) for name in ("a", "b", "c")]
    rows = runner.run_stages(stages, work)
    assert _ran(log) == ["a", "b", "c"] and [row[1] for row in rows] == ["done"] * 3
    marker = json.load(open(runner.marker_path(work, "b")))
    assert marker["stage"] == "b" and marker["commands"] == stages[1].commands
    assert sorted(os.listdir(os.path.join(work, ".done"))) == ["a.json", "b.json", "c.json"]  # no temporary left
    rows = runner.run_stages(stages, work)
    assert _ran(log) == ["a", "b", "c"] and [row[1] for row in rows] == ["skipped (done)"] * 3


def test_until_stops_after_the_stage_and_a_later_call_resumes(tmp_path):
    log, work = tmp_path / "log", str(tmp_path / "work")
    stages = [_logging_stage(name, log) for name in ("a", "b", "c")]
    rows = runner.run_stages(stages, work, until="b")
    assert _ran(log) == ["a", "b"] and [row[0] for row in rows] == ["a", "b"]
    runner.run_stages(stages, work)
    assert _ran(log) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="--until"):
        runner.run_stages(stages, work, until="z")


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_a_failed_or_killed_stage_runs_again(tmp_path, how):
    log, work = tmp_path / "log", str(tmp_path / "work")
    broken = _logging_stage("b", log, exit_code=3, kill=how == "kill")
    with pytest.raises(runner.StageFailed) as failure:
        runner.run_stages([_logging_stage("a", log), broken, _logging_stage("c", log)], work)
    assert failure.value.stage == "b" and failure.value.rows[-1][1].startswith("FAILED")
    assert _ran(log) == ["a", "b"] and not os.path.exists(runner.marker_path(work, "b"))
    runner.run_stages([_logging_stage(name, log) for name in ("a", "b", "c")], work)
    assert _ran(log) == ["a", "b", "b", "c"]


def test_stage_output_goes_to_its_log_and_a_failure_shows_the_last_lines(tmp_path, capsys):
    loud = runner.Stage("loud", [[sys.executable, "-c", "print('noise ' * 3); import sys; "
                                   "sys.exit('error: --flag: the reason')"]], "")
    logs = str(tmp_path / "logs")
    assert runner.run_with_summary([_logging_stage("a", tmp_path / "log"), loud], str(tmp_path / "w"), log_dir=logs) == 1
    out, err = capsys.readouterr()
    assert "noise" not in out.split("last lines of")[0]  # the stage's output is in its log, not on the screen
    assert "| a | done |" in out and "| loud | FAILED (exit 1) |" in out and f"stage logs: {logs}" in out
    assert out.rstrip().endswith("error: --flag: the reason") and "noise noise noise" in out.split("last lines of")[1]
    assert err.strip() == f"error: stage loud failed (exit 1); its log: {logs}/loud.log; re-run the same command " \
                          "to retry it"
    assert "noise noise noise" in open(os.path.join(logs, "loud.log")).read()


def test_work_dir_belongs_to_one_recipe_and_scale(tmp_path):
    recipes.pin_work_dir(str(tmp_path), "koelectra-small-v3", "tiny")
    recipes.pin_work_dir(str(tmp_path), "koelectra-small-v3", "tiny")
    with pytest.raises(recipes.RecipeError, match="holds recipe koelectra-small-v3 at scale tiny"):
        recipes.pin_work_dir(str(tmp_path), "koelectra-small-v3", "full")


# Markers: validated, with the stage's inputs; a changed input runs the stage and those after it -------------------

def _three_stages_run_once(tmp_path, resumable=False):
    """Stages a (reading tmp_path/raw.txt), b and c, run once: (raw.txt, the run log, the stages, the work dir)."""
    source, log, work = tmp_path / "raw.txt", tmp_path / "log", str(tmp_path / "work")
    source.write_text("text")
    stages = [_logging_stage("a", log, inputs=[str(source)]), _logging_stage("b", log, resumable=resumable),
              _logging_stage("c", log)]
    runner.run_stages(stages, work)
    return source, log, stages, work


def test_a_truncated_or_foreign_marker_is_not_taken_as_done(tmp_path, capsys):
    source, log, stages, work = _three_stages_run_once(tmp_path)
    marker = runner.marker_path(work, "b")
    text = open(marker).read()
    open(marker, "w").write(text[: len(text) // 2])  # truncated
    rows = runner.run_stages(stages, work)
    assert _ran(log) == ["a", "b", "c", "b", "c"] and [row.status for row in rows] == ["skipped (done)", "done", "done"]
    assert "=== b runs again: its marker" in capsys.readouterr().out
    open(marker, "w").write(json.dumps({"stage": "b", "seconds": "soon"}))  # parses, but is no marker
    runner.run_stages(stages, work)
    assert _ran(log)[5:] == ["b", "c"]


def test_an_older_runners_marker_reruns_in_place_and_a_broken_one_starts_over(tmp_path, capsys):
    """A marker without checksums (the runner before them) re-runs a resumable stage where it is (it resumes);
    after an unreadable one, what the stage left is moved aside first."""
    source, log, stages, work = _three_stages_run_once(tmp_path, resumable=True)
    marker = runner.marker_path(work, "b")
    old = json.load(open(marker))
    json.dump({key: old[key] for key in ("stage", "commands", "seconds", "finished")}, open(marker, "w"))
    capsys.readouterr()
    runner.run_stages(stages, work)
    out = capsys.readouterr().out
    assert "=== b runs again: its marker" in out and "older version" in out and "moved" not in out
    open(marker, "w").write("{")
    runner.run_stages(stages, work)
    assert "moved its earlier output" in capsys.readouterr().out
    assert _ran(log) == ["a", "b", "c", "b", "c", "b", "c"]


def test_a_deleted_output_runs_its_stage_again(tmp_path, capsys):
    source, log, stages, work = _three_stages_run_once(tmp_path)
    os.remove(stages[2].output)
    runner.run_stages(stages, work)
    assert _ran(log) == ["a", "b", "c", "c"]
    assert f"=== c runs again: its output {stages[2].output} is missing" in capsys.readouterr().out


def test_changed_input_runs_the_stage_and_those_after_it_and_says_why(tmp_path, capsys):
    source, log, stages, work = _three_stages_run_once(tmp_path, resumable=True)
    marker = json.load(open(runner.marker_path(work, "a")))
    assert marker["inputs"] == {str(source): hashlib.sha256(b"text").hexdigest()}
    runner.run_stages(stages, work)
    assert _ran(log) == ["a", "b", "c"]  # same input: nothing runs
    source.write_text("other text")
    capsys.readouterr()
    runner.run_stages(stages, work)
    out = capsys.readouterr().out
    assert _ran(log) == ["a", "b", "c", "a", "b", "c"]
    assert f"=== a runs again: its input {source} changed since it ran" in out
    assert "=== b runs again: stage a ran again after it" in out
    stale = [line for line in out.splitlines() if "moved its earlier output" in line]  # b resumes: moved aside
    assert len(stale) == 1 and os.listdir(os.path.join(work, ".stale")) and os.path.exists(stages[1].output)


def test_a_stage_killed_after_an_earlier_one_reran_still_runs_again(tmp_path):
    """The marker of b records a's run: a later call that finds a new a and the old b runs b (no in-memory
    cascade that a kill would forget)."""
    source, log, stages, work = _three_stages_run_once(tmp_path)
    source.write_text("changed")
    runner.run_stages(stages, work, until="a")  # as if killed before b started
    runner.run_stages(stages, work)
    assert _ran(log) == ["a", "b", "c", "a", "b", "c"]


def test_another_input_reruns_prepare_and_what_follows(tmp_path, capsys):
    """A re-run with another --input does not reuse the old corpus (recipe.json pins only recipe and scale)."""
    first, second = tmp_path / "one.txt", tmp_path / "two.txt"
    first.write_text("하나")
    second.write_text("둘")
    log = tmp_path / "log"

    def stages(raw):
        planned = recipes.plan(recipes.load_recipe("koelectra-small-v3"), [str(raw)], str(tmp_path / "w"), "tiny")
        return [_logging_stage(stage.name, log, inputs=stage.inputs) for stage in planned[:2]], planned[0]

    fake, planned = stages(first)
    assert planned.inputs == (str(first),) and f"--input={first}" in planned.commands[0]
    fake[0].commands = [fake[0].commands[0] + [f"--input={first}"]]
    runner.run_stages(fake, str(tmp_path / "w"))
    fake, _ = stages(second)
    fake[0].commands = [fake[0].commands[0] + [f"--input={second}"]]
    runner.run_stages(fake, str(tmp_path / "w"))
    out = capsys.readouterr().out
    assert _ran(log) == ["prepare", "vocab", "prepare", "vocab"]
    assert f"=== prepare runs again: its command changed (now --input={second}; was --input={first})" in out


def test_runner_flags_name_the_flag(tmp_path):
    (tmp_path / "raw").mkdir()
    with pytest.raises(recipes.RecipeError, match=r"^--input: No file matches input pattern '.*nothing\*\.txt'$"):
        recipes.check_paths([str(tmp_path / "nothing*.txt")])
    with pytest.raises(recipes.RecipeError, match=r"^--input: '.*raw' is a directory; give files or a glob, e\.g\. "
                                                  r"'.*raw/\*\.txt'$"):
        recipes.check_paths([str(tmp_path / "raw")])
    with pytest.raises(recipes.RecipeError, match=r"^--merge_vocab: .*vocab\.txt: no such file$"):
        recipes.check_paths(merge_vocab=str(tmp_path / "vocab.txt"))
    with pytest.raises(recipes.RecipeError, match=r"^--merge_vocab: .*raw is a directory without vocab\.txt$"):
        recipes.check_paths(merge_vocab=str(tmp_path / "raw"))
    (tmp_path / "raw" / "vocab.txt").write_text("[PAD]\n", encoding="utf-8")
    recipes.check_paths(merge_vocab=str(tmp_path / "raw"))  # a model directory holding vocab.txt is fine
    with pytest.raises(recipes.RecipeError, match=r"^--finetune_data_dir: .* is not a directory"):
        recipes.check_paths(finetune_data_dir=str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"^--config: no file 'tinyy' and no packaged pretrain config"):
        config_files.resolve("tinyy", "pretrain")
    for name in ("tiny", "tiny.json", "pretrain/tiny.json", "configs/pretrain/tiny.json"):
        assert os.path.samefile(config_files.resolve(name, "pretrain"), os.path.join(ROOT, "configs", "pretrain",
                                                                                      "tiny.json"))


def test_the_recipe_command_gives_one_error_line_naming_input(run_commands, tmp_path):
    result = run_commands({"recipe": ["-m", "electra_tf.recipe", "--recipe=koelectra-small-v3", f"--input={tmp_path}",
                                      f"--work_dir={tmp_path / 'w'}"]})["recipe"]
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: --input: '{tmp_path}' is a directory; give files or a "
                                                  f"glob, e.g. '{tmp_path}/*.txt'"], result.stderr[-2000:]
    assert not os.path.exists(tmp_path / "w")  # nothing written before the check


def _process_gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie left to an init that
    except FileNotFoundError:                                                  # does not reap is gone too
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_kill_9_of_the_runner_takes_its_stage_with_it(tmp_path):
    pid_file = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    script = (f"import sys; from electra_tf import stages; stages.run_stages([stages.Stage('sleep', "
              f"[[sys.executable, '-c', {child!r}]], 'out')], {str(tmp_path / 'work')!r})")
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.time() + 120
        while not (pid_file.exists() and pid_file.read_text()) and time.time() < deadline:
            assert process.poll() is None, "the runner ended early"
            time.sleep(0.2)
        pid = int(pid_file.read_text())
        assert not _process_gone(pid)
        process.kill()
        process.wait()
        deadline = time.time() + 5
        while not _process_gone(pid) and time.time() < deadline:
            time.sleep(0.1)
        assert _process_gone(pid), "the stage outlived its runner"
    finally:
        process.kill()


# Installed: the recipes are package data, every stage is `python -m electra_tf...` ------------------------------------

def _install_wheel(tmp_path):
    """Builds the wheel from a copy of this tree and installs it (no dependencies) into tmp_path/site."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "runs", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "tests", "bench"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "wheels"), "."],
                   cwd=source, check=True, timeout=300)
    wheel, = (tmp_path / "wheels").glob("electra_tf-*.whl")
    site = tmp_path / "site"
    subprocess.run(pip + ["install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=300)
    return site


@pytest.mark.slow
def test_installed_recipe_runs_from_an_unrelated_directory(tmp_path):
    """After `pip install`, the kcelectra-base recipe at tiny scale runs its first stages from a directory that
    has nothing of the checkout (the input copied there), then a re-run does nothing."""
    site = _install_wheel(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(os.path.join(ROOT, "data", "sample_corpus.txt"), elsewhere / "raw.txt")
    shutil.copy(os.path.join(ROOT, "data", "sample_vocab", "vocab.txt"), elsewhere / "other_vocab.txt")
    env = {**os.environ, "PYTHONPATH": str(site)}
    located = subprocess.run([sys.executable, "-c", "import electra_tf, sys; print(electra_tf.__file__)"],
                             cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert located.stdout.strip().startswith(str(site)), located.stdout  # not the editable source tree
    command = [sys.executable, "-m", "electra_tf.recipe", "--recipe=kcelectra-base", "--scale=tiny",
               "--input=raw.txt", "--work_dir=kc", "--until=vocab", "--merge_vocab=other_vocab.txt"]
    first = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for stage in ("prepare", "vocab"):
        assert f"| {stage} | done |" in first.stdout
    assert "| corpus |" not in first.stdout
    vocab = (elsewhere / "kc" / "vocab" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert set((elsewhere / "other_vocab.txt").read_text(encoding="utf-8").split("\n")) <= set(vocab)
    again = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "===" not in again.stdout, again.stdout[-3000:] + again.stderr[-3000:]
    for stage in ("prepare", "vocab"):
        assert f"| {stage} | skipped (done) |" in again.stdout


# domain-adapt: continue a released model on domain text, its vocabulary extended -----------------------------------

def _released_dir(path, vocab_tokens, **shape):
    """A released transformers directory's config.json (of `shape`) and vocab.txt, without weights: what the
    plan reads."""
    path.mkdir()
    config = {"model_type": "electra", "vocab_size": len(vocab_tokens), "embedding_size": 48, "hidden_size": 96,
              "num_hidden_layers": 3, "num_attention_heads": 3, "intermediate_size": 200,
              "max_position_embeddings": 256, "hidden_act": "gelu", "layer_norm_eps": 1e-7,
              "transformers_version": "4.44.0", **shape}
    (path / "config.json").write_text(json.dumps(config))
    (path / "vocab.txt").write_text("".join(token + "\n" for token in vocab_tokens), encoding="utf-8")
    (path / "tf_model.h5").write_bytes(b"weights")
    return config


def _hparams(stage):
    return json.loads(next(flag for flag in _flags(stage) if flag.startswith("--hparams="))[len("--hparams="):])


def test_domain_adapt_plans_the_released_architecture_and_the_continuation_schedule(tmp_path):
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "가", "나"]
    released = _released_dir(tmp_path / "released", tokens)
    generator = _released_dir(tmp_path / "generator", tokens, hidden_size=48, num_attention_heads=1,
                              intermediate_size=192, num_hidden_layers=3)
    recipe = recipes.load_recipe("domain-adapt")
    stages = recipes.plan(recipe, ["domain.txt"], "w", init_checkpoint=str(tmp_path / "released"),
                          init_generator_checkpoint=str(tmp_path / "generator"), python="py")
    assert [stage.name for stage in stages] == ["prepare", "vocab", "extend", "corpus", "pretrain", "export"]
    prepare, vocab, extend, corpus, pretrain, export = stages
    released_vocab = str(tmp_path / "released" / "vocab.txt")
    assert extend.commands == [["py", "-m", "electra_tf.pretraining.vocab_extension", f"--vocab={released_vocab}",
                                "--extend_vocab=w/vocab/vocab.txt", "--output_dir=w/extend"]]
    assert extend.output == "w/extend/vocab.txt" and extend.inputs == (released_vocab,)
    assert f"--vocab_size={recipe['vocab']['vocab_size']}" in _flags(vocab)
    assert "--vocab=w/extend/vocab.txt" in _flags(corpus) and "--max_seq_length=128" in _flags(corpus)
    assert {f"--init_checkpoint={tmp_path / 'released'}", f"--init_generator_checkpoint={tmp_path / 'generator'}",
            "--extend_vocab=w/vocab/vocab.txt", f"--vocab={released_vocab}"} <= set(_flags(pretrain))
    assert {str(tmp_path / "released"), str(tmp_path / "generator"), released_vocab} <= set(pretrain.inputs)
    assert [flag for flag in _flags(export) if flag.startswith("--vocab=")] == ["--vocab=w/extend/vocab.txt"] * 2
    hparams = _hparams(pretrain)
    assert (hparams["learning_rate"], hparams["train_steps"], hparams["warmup_steps"]) == (1e-4, 20000, 2000)
    assert (hparams["generator_hidden_size"], hparams["generator_layers"]) == (0.5, 1.0)
    # the model pre-training builds from these settings is the released one, field by field (vocab_size aside)
    config_file = recipes.config_argument(next(flag[len("--config="):] for flag in _flags(pretrain)
                                               if flag.startswith("--config=")), "pretrain", "test")[1]
    built = PretrainingConfig.from_json_file(config_file, hparams).discriminator_config(vocab_size=9).to_dict()
    for key, value in released.items():
        if key not in ("vocab_size", "transformers_version"):
            assert built[key] == value, key
    built_generator = PretrainingConfig.from_json_file(config_file, hparams).generator_config(
        ElectraConfig.from_dict(built))
    assert (built_generator.hidden_size, built_generator.intermediate_size) == (48, 192)
    tiny = recipes.plan(recipe, ["domain.txt"], "w", scale="tiny", init_checkpoint=str(tmp_path / "released"),
                        pretrain_overrides={"train_steps": 30})
    assert "--config=tiny" in _flags(tiny[4]) and (_hparams(tiny[4])["warmup_steps"], _hparams(tiny[4])[
        "learning_rate"]) == (3, 1e-4)
    assert "generator_hidden_size" not in _hparams(tiny[4])  # no released generator: the config's, fresh
    # a user's model_overrides change those fields only; the rest of the architecture stays the released one
    dropout_off = recipes.plan(recipe, ["domain.txt"], "w", scale="tiny", init_checkpoint=str(tmp_path / "released"),
                               pretrain_overrides={"model_overrides": {"hidden_dropout_prob": 0.0}})
    model_overrides = _hparams(dropout_off[4])["model_overrides"]
    assert model_overrides == {**hparams["model_overrides"], "hidden_dropout_prob": 0.0}, model_overrides
    finetune = recipes.plan(recipe, ["domain.txt"], "w", init_checkpoint=str(tmp_path / "released"),
                            finetune_task="nsmc", finetune_data_dir="data/nsmc")[-1]
    assert finetune.name == "finetune" and "--init_checkpoint=w/export/discriminator" in _flags(finetune)
    load_hparams(finetune.inputs[0], "nsmc")


def test_domain_adapt_refuses_what_cannot_continue(tmp_path):
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    _released_dir(tmp_path / "released", tokens, max_position_embeddings=64)
    _released_dir(tmp_path / "generator", tokens, hidden_size=48, num_attention_heads=2)  # 48 // 64 -> 1 head
    recipe = recipes.load_recipe("domain-adapt")
    released = str(tmp_path / "released")
    with pytest.raises(recipes.RecipeError, match=r"^--init_checkpoint .*max_seq_length 128 exceeds "
                                                  r"max_position_embeddings 64$"):
        recipes.plan(recipe, ["d.txt"], "w", init_checkpoint=released)
    with pytest.raises(recipes.RecipeError, match=r"^--init_generator_checkpoint: its generator .* is not a shape"):
        recipes.plan(recipe, ["d.txt"], "w", scale="tiny", init_checkpoint=released,
                     init_generator_checkpoint=str(tmp_path / "generator"))
    with pytest.raises(recipes.RecipeError, match=r"^--init_checkpoint: .*nothing is neither a transformers"):
        recipes.plan(recipe, ["d.txt"], "w", init_checkpoint=str(tmp_path / "nothing"))
    with pytest.raises(recipes.RecipeError, match=r"^--vocab: .*missing.txt: no such file$"):
        recipes.plan(recipe, ["d.txt"], "w", init_checkpoint=released, released_vocab=str(tmp_path / "missing.txt"))


def test_domain_adapt_flags_misused_give_one_error_line(run_commands, tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("도메인 문장\n", encoding="utf-8")
    common = [f"--input={raw}", "--scale=tiny"]
    results = run_commands({
        "missing": ["-m", "electra_tf.recipe", "--recipe=domain-adapt", *common, f"--work_dir={tmp_path / 'a'}"],
        "seed": ["-m", "electra_tf.recipe", "--recipe=koelectra-small-v3", *common, f"--work_dir={tmp_path / 'b'}",
                 f"--init_checkpoint={tmp_path}"],
        "until": ["-m", "electra_tf.recipe", "--recipe=koelectra-small-v3", *common, f"--work_dir={tmp_path / 'c'}",
                  "--until=extend"]})
    for key, expected in (("missing", "error: --init_checkpoint is required by recipe domain-adapt: the released "
                                      "model to continue ("),
                          ("seed", "error: --init_checkpoint: recipe koelectra-small-v3 trains a model from scratch "
                                   "on its own vocabulary; to continue a released model use --recipe domain-adapt"),
                          ("until", "error: --until extend: recipe koelectra-small-v3 has no such stage (its stages: "
                                    "prepare, vocab, corpus, pretrain, export)")):
        result = results[key]
        assert result.returncode == 2, result.stderr[-2000:]
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), result.stderr[-2000:]
    assert not any((tmp_path / name).exists() for name in "abc")  # nothing written


# a few dozen lines of one domain, its words absent from the sample vocabulary
DOMAIN_WORDS = ["블록체인", "스마트계약", "탈중앙화", "채굴보상", "지갑주소"]
DOMAIN_LINES = [f"{DOMAIN_WORDS[i % 5]} 기술은 {DOMAIN_WORDS[(i + 2) % 5]}와 함께 {i}번째 사례로 소개되었다."
                for i in range(40)]


@pytest.mark.slow
def test_domain_adapt_runs_every_stage_then_skips_them(released_model, run_commands, tmp_path, capsys):
    """The recipe at tiny scale on the released model of `support.RELEASED_HPARAMS` (not the tiny preset's
    shape): the export has the released vocabulary unchanged with the domain's tokens appended, and
    transformers loads it; a second run runs nothing."""
    import transformers

    raw = tmp_path / "domain.txt"
    raw.write_text("\n".join(DOMAIN_LINES) + "\n", encoding="utf-8")
    work = str(tmp_path / "w")
    stages = recipes.plan(recipes.load_recipe("domain-adapt"), [str(raw)], work, "tiny",
                          pretrain_overrides={"train_steps": 2, "train_batch_size": 4, "steps_per_execution": 1},
                          init_checkpoint=released_model["discriminator"],
                          init_generator_checkpoint=released_model["generator"])
    ran = []

    def forked(command, env=None, log=None):  # each stage's command in a fork of the test's TensorFlow process
        result = run_commands({"stage": command[1:]}, env=env)["stage"]
        ran.append(command)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        return result.returncode

    assert runner.run_with_summary(stages, work, run=forked) == 0
    names = [stage.name for stage in stages]
    out = capsys.readouterr().out
    assert all(f"| {name} | done |" in out for name in names), out[-3000:]
    released_tokens = load_vocab(os.path.join(released_model["discriminator"], "vocab.txt"))
    domain_tokens = load_vocab(os.path.join(work, "vocab", "vocab.txt"))
    exported = os.path.join(work, "export", "discriminator")
    tokens = load_vocab(os.path.join(exported, "vocab.txt"))
    assert tokens[:len(released_tokens)] == released_tokens
    appended = [token for token in domain_tokens if token not in set(released_tokens)
                and not (token.startswith("[") and token.endswith("]"))]
    assert tokens[len(released_tokens):] == appended and set(DOMAIN_WORDS) <= set(appended)
    theirs = transformers.ElectraTokenizer(os.path.join(exported, "vocab.txt"), do_lower_case=False)
    assert all(len(theirs.tokenize(word)) == 1 for word in DOMAIN_WORDS)
    model = transformers.TFElectraForPreTraining.from_pretrained(exported, from_pt=False)
    released = transformers.ElectraConfig.from_pretrained(released_model["discriminator"])
    assert model.electra.embeddings.weight.shape == (len(tokens), released.embedding_size)
    assert model.config.intermediate_size == released.intermediate_size == 192
    generator = transformers.ElectraConfig.from_pretrained(os.path.join(work, "export", "generator"))
    assert generator.hidden_size == transformers.ElectraConfig.from_pretrained(released_model["generator"]).hidden_size
    ran.clear()
    assert runner.run_with_summary(stages, work, run=forked) == 0
    out = capsys.readouterr().out
    assert ran == [] and all(f"| {name} | skipped (done) |" in out for name in names), out[-3000:]
