"""The pure parts of bench/bench_pretraining_value.py: its budget, its speed probe, its table, its pinned work
directory, and the recipe stages it runs."""

import json

import pytest

from bench import bench_pretraining_value as value


def test_budget_hparams_fill_the_steps_and_decay_to_them():
    config = value.PretrainingConfig.from_json_file(value.preset_path("tiny"))
    hparams = value.budget_hparams(config, 4321, 0.05)
    assert hparams["train_steps"] == 4321 and hparams["warmup_steps"] == 216
    assert hparams["log_steps"] % config.steps_per_execution == 0 and hparams["save_checkpoints_steps"] >= 432
    assert value.budget_hparams(config, 10, 0.05)["log_steps"] == config.steps_per_execution


def test_measured_speed_skips_the_first_window(tmp_path):
    windows = [{"step": 10, "examples_per_second": 10.0}] + [
        {"step": 10 * (index + 2), "examples_per_second": rate} for index, rate in enumerate((64.0, 60.0, 68.0))]
    (tmp_path / "metrics.json").write_text(json.dumps(windows))
    rate, fixed = value.measured_speed(str(tmp_path), batch_size=32, wall_seconds=50.0, probe_steps=40)
    assert rate == pytest.approx(2.0) and fixed == pytest.approx(30.0)


def test_value_rows_report_means_sds_and_the_difference():
    rows = value.value_rows({"nsmc": {"pretrained": [0.8, 0.9], "random": [0.6, 0.6]}})
    assert rows == [{"task": "nsmc", "metric": "test accuracy", "pre-trained": "0.8500 ± 0.0707",
                     "random init": "0.6000 ± 0.0000", "difference": "+0.2500 ± 0.0500", "seeds": 2}]


def test_a_work_dir_refuses_other_pretraining_settings(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("문장\n", encoding="utf-8")
    arguments = ["--corpus", str(corpus), "--work_dir", str(tmp_path / "work")]
    value.pin_settings(value.parse_args(arguments + ["--minutes", "5"]))
    value.pin_settings(value.parse_args(arguments + ["--minutes", "5", "--seeds", "2"]))  # fine-tuning only
    with pytest.raises(SystemExit, match="other minutes"):
        value.pin_settings(value.parse_args(arguments + ["--minutes", "6"]))


def test_stages_are_the_recipe_runners_with_these_flags(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("문장\n", encoding="utf-8")
    work = tmp_path / "work"
    args = value.parse_args(["--corpus", str(corpus), "--work_dir", str(work), "--vocab_size", "321",
                             "--cleaning", "kcelectra"])
    stages = value.planned_stages(args, {"train_steps": 7})
    assert list(stages) == ["prepare", "vocab", "corpus", "pretrain", "export"]
    prepare, vocab, pretrain = stages["prepare"].commands[0], stages["vocab"].commands[0], stages["pretrain"].commands[0]
    assert f"--input={corpus}" in prepare and "--cleaning=kcelectra" in prepare
    assert "--vocab_size=321" in vocab and f"--output_dir={work / 'vocab'}" in vocab
    assert f"--config={value.preset_path('tiny')}" in pretrain and '--hparams={"train_steps": 7}' in pretrain
    probe = value.retarget(stages["pretrain"], "probe", str(work / "probe"))
    assert probe.name == "probe" and probe.output == str(work / "probe")
    assert probe.commands[0] == [f"--model_dir={work / 'probe'}" if part.startswith("--model_dir=") else part
                                 for part in pretrain]
    assert pretrain != probe.commands[0]
