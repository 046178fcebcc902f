"""The README's main job end to end on the bundled sample (CI runs it): the demo, which is the koelectra-small-v3
recipe at tiny scale plus the parity and predict_text stages, including the pre-training learning check: the
discriminator's loss falls and the generator beats the unigram baseline."""

import collections
import json
import os
import subprocess
import sys

import pytest

from electra_tf import pipeline
from electra_tf import recipe as recipes
from electra_tf.data.pretraining_dataset import pretraining_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_demo_is_the_tiny_recipe_plus_two_demo_stages():
    stages = pipeline.demo_stages("w", recipes.load_recipe("koelectra-small-v3"), "data/sample_corpus.txt",
                                  "data/sample_nsmc", python="py")
    planned = recipes.plan(recipes.load_recipe("koelectra-small-v3"), ["data/sample_corpus.txt"], "w", scale="tiny",
                           finetune_task="nsmc", finetune_data_dir="data/sample_nsmc", python="py")
    assert stages[:-2] == planned
    assert [stage.name for stage in stages[-2:]] == ["parity", "predict_text"]
    assert "--saved_model_dir=w/finetune/nsmc/saved_model" in stages[-1].commands[0]


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp("demo"))
    command = [sys.executable, "-m", "electra_tf.pipeline", f"--work_dir={work_dir}"]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    return work_dir, first.stdout, again


@pytest.mark.slow
def test_every_stage_runs_then_skips_when_done(pipeline_run):
    work_dir, stdout, again = pipeline_run
    for stage in ("prepare", "vocab", "corpus", "pretrain", "export", "finetune", "parity", "predict_text"):
        assert f"| {stage} | done |" in stdout, stdout[-3000:]
        assert f"| {stage} | skipped (done) |" in again.stdout
    assert again.returncode == 0 and "\n=== " not in again.stdout  # a complete run runs no command


@pytest.mark.slow
def test_exports_match_transformers(pipeline_run):
    work_dir, _, _ = pipeline_run
    rows = [line.split("|") for line in open(os.path.join(work_dir, "parity.txt"), encoding="utf-8")][2:]
    assert {row[3].strip() for row in rows} >= {"transformers TF"}
    assert {row[2].strip() for row in rows} == {"ElectraForPreTraining", "ElectraForMaskedLM"}
    for row in rows:
        assert float(row[4]) <= 1e-4, row


@pytest.mark.slow
def test_prediction_prints_a_sentence_and_its_label(pipeline_run):
    work_dir, _, _ = pipeline_run
    text = open(os.path.join(work_dir, "prediction.txt"), encoding="utf-8").read()
    assert "배우들 연기가 정말" in text and "'label': '" in text


@pytest.mark.slow
def test_pretraining_learns(pipeline_run):
    work_dir, _, _ = pipeline_run
    history = json.load(open(os.path.join(work_dir, "pretrain", "metrics.json")))
    first, last = history[0], history[-1]
    assert last["disc_loss"] < first["disc_loss"] - 0.02, (first, last)
    examples = next(iter(pretraining_dataset(os.path.join(work_dir, "corpus", "*.tfrecord*"), 64, 10_000,
                                             is_training=False, drop_remainder=False)))
    ids, mask = examples["input_ids"].numpy(), examples["input_mask"].numpy()
    tokens = ids[(mask == 1) & (ids > 4)]
    unigram_accuracy = collections.Counter(tokens.tolist()).most_common(1)[0][1] / len(tokens)
    assert last["masked_lm_loss"] < first["masked_lm_loss"] - 0.5, (first, last)
    assert last["masked_lm_accuracy"] > unigram_accuracy, (last["masked_lm_accuracy"], unigram_accuracy)
