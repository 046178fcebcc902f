"""The plan before a run (`python -m electra_tf.plan`, `--dry_run`) for pre-training and fine-tuning: its
measured peak memory of a step agrees with a separate measurement of the same step, a configuration that cannot
fit is refused with one `error:` line, a fine-tuning dry run plans without any data, and the synthetic labels of
every task family have the shapes of real features."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from support import fixture_dir

from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.run import load_model
from electra_tf.finetuning.tasks import get_task
from electra_tf.tokenization import host_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "scripts", "plan_peak.py")


def count_params(variables):
    return sum(int(np.prod(variable.shape)) for variable in variables)


@pytest.mark.parametrize("kind, micro_batch, accumulation", [("pretrain", 8, 1), ("finetune", 4, 2)])
def test_the_planned_peak_memory_agrees_with_a_separate_measurement_of_the_step(kind, micro_batch, accumulation):
    result = subprocess.run([sys.executable, SCRIPT, kind], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert (outcome["micro_batch"], outcome["accumulation"]) == (micro_batch, accumulation)
    assert abs(outcome["planned_peak"] - outcome["separate_peak"]) <= 0.2 * outcome["separate_peak"], outcome
    # more than float32 weights, gradients and Adam's two moments: it stepped
    assert outcome["planned_peak"] > 16 * outcome["parameters"]["total"], outcome
    if kind == "finetune":  # 80 examples in batches of 8, the default 3 epochs
        assert outcome["train_steps"] == 3 * 10, outcome


def test_a_configuration_that_cannot_fit_is_refused_before_any_step(run_commands):
    finetuning = ["--task=nsmc", "--config=tiny", "--init_checkpoint=/nonexistent/c", "--data_dir=/nonexistent/d",
                  "--output_dir=/nonexistent/o"]
    commands = {"plan": ["-m", "electra_tf.plan", "--config=tiny", "--memory_gb=0.001"],
                "dry run": ["-m", "electra_tf.pretraining", "--config=tiny", "--model_dir=/nonexistent/m",
                            "--dry_run", "--memory_gb=0.001"],
                "fine-tuning plan": ["-m", "electra_tf.plan", "--task=nsmc", "--config=tiny", "--memory_gb=0.001"],
                "fine-tuning dry run": ["-m", "electra_tf.finetuning", *finetuning, "--dry_run",
                                        "--memory_gb=0.001"]}
    commands["labels from the train file"] = ["-m", "electra_tf.plan", "--task=text_classification", "--config=tiny"]
    for name, result in run_commands(commands).items():
        assert result.returncode == 2, (name, result.stderr[-3000:])
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in result.stderr, (name, result.stderr[-3000:])
        if name == "labels from the train file":  # planned as a one-output regression head, it would be wrong
            assert "--task text_classification reads its labels from the train file" in errors[0], errors
            assert "--labels" in errors[0]
            continue
        assert "--memory_gb 0.001: nothing fits" in errors[0] and "parameters alone take" in errors[0], errors


def test_a_finetuning_dry_run_plans_without_data(run_commands, tmp_path, init_checkpoint):
    data_dir, output_dir = tmp_path / "no_data", tmp_path / "out"
    command = ["-m", "electra_tf.finetuning", "--task=naver-ner", "--config=tiny", f"--data_dir={data_dir}",
               f"--output_dir={output_dir}", "--dry_run", "--hparams", '{"train_batch_size": 8, "max_seq_length": 32}',
               "--timed_steps=1"]
    results = run_commands({"preset": command + [f"--init_checkpoint={tmp_path / 'no_model'}"],
                            "checkpoint": command + [f"--init_checkpoint={init_checkpoint}", "--train_examples=20"]})
    for name, result in results.items():
        assert result.returncode == 0, (name, result.stderr[-3000:])
        assert "\nmeasured peak of one step: " in result.stdout, result.stdout
    assert "plan for tiny (task naver-ner, the tiny preset; --init_checkpoint" in results["preset"].stdout
    assert "the whole run's time needs --train_examples" in results["preset"].stdout
    assert f"plan for tiny (task naver-ner, the model of {init_checkpoint})" in results["checkpoint"].stdout
    model = load_model(init_checkpoint, get_task("naver-ner"), load_hparams())  # what the run would train
    assert f"\nparameters: {count_params(model.trainable_weights):,} (" in results["checkpoint"].stdout
    # ceil(20 / 8) = 3 steps per epoch, tiny's 4 epochs
    assert "all 12 steps (4 epochs x 3, rows of the full 32 tokens)" in results["checkpoint"].stdout
    assert not data_dir.exists() and not output_dir.exists()


@pytest.mark.parametrize("name", ["nsmc", "korsts", "naver-ner", "korquad"])
def test_synthetic_labels_have_the_shapes_of_real_features(name, finetune_vocab):
    task = get_task(name)
    hparams = load_hparams(None, None, {"max_seq_length": 48, "doc_stride": 16, "max_query_length": 16})
    task.prepare(fixture_dir(name))
    examples = task.read(fixture_dir(name), "train").examples
    real = task.featurize(examples, host_tokenizer(finetune_vocab), hparams, training=True).labels
    synthetic = task.synthetic_labels(5, hparams.max_seq_length, np.random.default_rng(0))
    assert sorted(synthetic) == sorted(real)
    for key, values in real.items():
        assert synthetic[key].dtype == values.dtype and synthetic[key].shape == (5,) + values.shape[1:], key
        if values.dtype.kind == "i":  # class ids and positions within what real labels may hold
            limit = len(task.labels) if task.labels else hparams.max_seq_length
            assert synthetic[key].min() >= 0 and synthetic[key].max() < limit, key
