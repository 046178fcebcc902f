"""A real learning check and the command line: a tiny random model learns the keyword-driven NSMC fixture;
`run_finetuning.py` runs end to end and reports bad input with file and line."""

import json
import os
import subprocess
import sys

import pytest
from support import fixture_dir

from electra_tf.finetuning.tasks import get_task
from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.run import finetune

ROOT = os.path.join(os.path.dirname(__file__), "..")
CONFIG = os.path.join(ROOT, "configs", "finetune", "tiny.json")


@pytest.mark.slow
def test_classification_learns_the_easy_fixture(tmp_path, init_checkpoint):
    hparams = load_hparams(CONFIG, "nsmc", {"num_train_epochs": 12, "learning_rate": 5e-4, "max_seq_length": 32,
                                            "hidden_dropout_prob": 0.0})
    results = finetune(get_task("nsmc"), hparams, init_checkpoint, fixture_dir("nsmc"), str(tmp_path),
                       progress=False, export=False)
    epochs = results["epochs"]
    assert epochs[0]["train_loss"] > 0.6  # starts at chance (ln 2 ≈ 0.69)
    assert epochs[-1]["train_loss"] < 0.1
    # The last epoch is not a selected one: its accuracy on the 30 held-out reviews is an honest figure. Its
    # rounding differs between CPUs, which moves a review or two: seeds 42 and 1-7 end at 26-28 of 30 here, one
    # CI machine at 25. The bar, 23 of 30, stays far above what no learning gives: one label for every review
    # is 18 (0.6), guessing reaches 23 with p = 0.003.
    assert epochs[-1]["dev"]["accuracy"] >= 0.75
    # the best epoch (selected on those 30 reviews, so a little optimistic): 27-29 of 30 for those seeds
    assert results["test"]["accuracy"] >= 0.8


def _run(args, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, "run_finetuning.py"), *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


@pytest.mark.slow
def test_command_line_run_and_bad_rows(tmp_path, init_checkpoint):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    source = os.path.join(fixture_dir("question-pair"))
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (data_dir / name).write_bytes(open(os.path.join(source, name), "rb").read())
    with open(data_dir / "train.tsv", "a", encoding="utf-8") as handle:
        handle.write("질문만 있는 행\t1\n")  # line 26: two columns instead of three
    common = ["--task", "question-pair", "--config", CONFIG, "--init_checkpoint", init_checkpoint,
              "--data_dir", str(data_dir), "--hparams", '{"num_train_epochs": 1, "max_steps_per_epoch": 1}',
              "--noprogress"]
    failed = _run(common + ["--output_dir", str(tmp_path / "bad")], tmp_path)
    assert failed.returncode != 0
    assert "train.tsv:26: expected 3 columns, found 2" in failed.stderr
    assert "--skip_bad_rows" in failed.stderr

    done = _run(common + ["--output_dir", str(tmp_path / "out"), "--skip_bad_rows"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.load(open(tmp_path / "out" / "eval_results.json", encoding="utf-8"))
    assert results["data"]["train"]["bad_rows"] == 1 and results["data"]["train"]["examples"] == 24
    assert "accuracy" in results["test"]
    assert os.path.exists(tmp_path / "out" / "model" / "tf_model.h5")
    assert os.path.exists(tmp_path / "out" / "predictions.tsv")
