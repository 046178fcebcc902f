"""run_pretraining.py on real shards of the sample corpus: exact resume after kill -9 and SIGTERM (exit 143),
with two accumulated micro-batches per optimizer step, NaN stop, continuing from an original TF1 checkpoint, and
export."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from electra_tf import recipe, rundir, weights
from electra_tf.data.pretraining_dataset import make_pretraining_input_fn
from electra_tf.formats.tf1_checkpoint import tf1_name, write_tf1_checkpoint
from electra_tf.preemption import PREEMPTED_EXIT_STATUS
from electra_tf.pretraining import loop, transfer
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.tokenization import load_vocab, special_token_ids

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
TINY = os.path.join(ROOT, "configs", "pretrain", "tiny.json")
SHORT = {"train_steps": 60, "save_checkpoints_steps": 20, "log_steps": 20, "steps_per_execution": 5,
         "warmup_steps": 5, "eval_batches": 2}
ACCUMULATED = {**SHORT, "gradient_accumulation_steps": 2}  # killed between optimizer steps of two micro-batches


@pytest.fixture(scope="module")
def shards(pretraining_shards):
    return pretraining_shards


def _command(shards, model_dir, overrides, *extra):
    # the sample shards double as held-out shards: evaluated every 20 steps on 2 batches
    return [sys.executable, os.path.join(ROOT, "run_pretraining.py"), f"--config={TINY}", f"--data_dir={shards}",
            f"--vocab={VOCAB}", f"--model_dir={model_dir}", f"--hparams={json.dumps(overrides)}",
            f"--eval_data_dir={shards}", *extra]


def _wait_for(path, process, timeout=240):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() < deadline, f"{path} did not appear"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def uninterrupted(shards, tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("uninterrupted") / "model")
    result = subprocess.run(_command(shards, model_dir, ACCUMULATED), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir


def _history(model_dir, name="metrics.json"):
    """metrics.json (or eval_metrics.json) without its timing field."""
    return [{key: value for key, value in entry.items() if key != "examples_per_second"}
            for entry in json.load(open(os.path.join(model_dir, name)))]


@pytest.mark.slow
@pytest.mark.parametrize("kill_signal", [signal.SIGKILL, signal.SIGTERM])
def test_interrupted_run_resumes_to_the_uninterrupted_result(shards, uninterrupted, tmp_path, kill_signal):
    model_dir = str(tmp_path / "model")
    process = subprocess.Popen(_command(shards, model_dir, ACCUMULATED), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    _wait_for(os.path.join(model_dir, "ckpt-20.index"), process)
    process.send_signal(kill_signal)
    _, stderr = process.communicate(timeout=120)
    if kill_signal == signal.SIGTERM:  # saves where it stands, does not export, exits 143 to be restarted
        assert process.returncode == PREEMPTED_EXIT_STATUS, stderr[-3000:]
        assert "SIGTERM received" in stderr
        assert not os.path.exists(os.path.join(model_dir, "export"))
    interrupted_at = int(tf.train.latest_checkpoint(model_dir).rsplit("-", 1)[1])
    assert 20 <= interrupted_at < 60
    result = subprocess.run(_command(shards, model_dir, ACCUMULATED), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"at step {interrupted_at}" in result.stderr
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-60")
    assert _history(model_dir) == _history(uninterrupted)  # earlier windows kept, later ones redone exactly
    assert {"mask_loss_gap", "disc_auc_unigram_fill"} <= set(_history(model_dir)[-1])  # stats.json read
    held_out = _history(model_dir, "eval_metrics.json")
    assert [entry["step"] for entry in held_out] == [20, 40, 60]
    assert held_out == _history(uninterrupted, "eval_metrics.json")  # fixed masks and fills, redone exactly
    assert os.path.getsize(os.path.join(model_dir, "curves.png")) > 10000
    for network in ("discriminator", "generator"):
        assert os.path.exists(os.path.join(model_dir, "export", network, "tf_model.h5"))
        _, expected = rundir.read_network(uninterrupted, network)
        _, actual = rundir.read_network(model_dir, network)
        worst = max(float(np.abs(expected[name] - actual[name]).max()) for name in expected)
        assert worst <= 1e-6, f"{network}: {worst}"


def _run(model_dir, overrides=None):
    config = PretrainingConfig.from_json_file(TINY, {**SHORT, **(overrides or {})})
    vocab = load_vocab(VOCAB)
    discriminator_config = config.discriminator_config(vocab_size=len(vocab))
    rundir.save_run_configs(model_dir, config, discriminator_config)
    return loop.PretrainingRun(config, discriminator_config, special_token_ids(vocab), model_dir,
                               tf.distribute.get_strategy())


def _dataset_fn(shards, config):
    return make_pretraining_input_fn(os.path.join(shards, "*.tfrecord*"), config.max_seq_length,
                                     config.train_batch_size, seed=1)


@pytest.mark.slow
def test_non_finite_loss_stops_without_touching_the_last_checkpoint(shards, tmp_path):
    model_dir = str(tmp_path / "model")
    run = _run(model_dir, {"train_steps": 20})
    loop.train(run, _dataset_fn(shards, run.config), log_fn=lambda line: None)
    saved = tf.train.latest_checkpoint(model_dir)
    broken = _run(model_dir, {"train_steps": 40})
    broken.config.disc_weight = float("nan")  # behind the range checks, which refuse a NaN setting
    with pytest.raises(FloatingPointError, match=r"Non-finite loss at or before step 2[0-9]"):
        loop.train(broken, _dataset_fn(shards, broken.config), log_fn=lambda line: None)
    assert tf.train.latest_checkpoint(model_dir) == saved


def test_continues_from_an_original_tf1_checkpoint_and_exports_it(tmp_path):
    source = _run(str(tmp_path / "source"))
    rng = np.random.default_rng(0)
    variables = {}
    for network in ("discriminator", "generator"):
        model = getattr(source.pretrainer, network)
        for name, variable in model.hf_weights().items():
            variable.assign(rng.normal(0, 0.02, variable.shape).astype("float32"))
        for name, value in weights.model_arrays(model).items():
            variables[tf1_name(name, network)] = value
    write_tf1_checkpoint(variables, str(tmp_path / "original" / "model.ckpt-1"))
    target = _run(str(tmp_path / "target"))
    transfer.initialize_from(target, str(tmp_path / "original" / "model.ckpt-1"))
    released = recipe.released_settings(str(tmp_path / "original" / "model.ckpt-1"))  # the domain-adapt recipe's
    assert released["model_overrides"]["intermediate_size"] == source.pretrainer.discriminator.config.intermediate_size
    assert (released["generator_hidden_size"], released["generator_layers"]) == (
        source.config.generator_hidden_size, source.config.generator_layers)
    with pytest.raises(recipe.RecipeError, match=r"^--init_generator_checkpoint: .* holds both networks"):
        recipe.released_settings(str(tmp_path / "original" / "model.ckpt-1"), str(tmp_path / "source"))
    for network in ("discriminator", "generator"):
        expected = weights.model_arrays(getattr(source.pretrainer, network))
        actual = weights.model_arrays(getattr(target.pretrainer, network))
        for name in expected:
            np.testing.assert_array_equal(actual[name], expected[name], err_msg=f"{network} {name}")
    paths = transfer.export(target, VOCAB)
    assert json.load(open(os.path.join(paths["generator"], "config.json")))["architectures"] == ["ElectraForMaskedLM"]
    assert os.path.exists(os.path.join(paths["discriminator"], "vocab.txt"))
