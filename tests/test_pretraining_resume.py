"""Preemption-safe pre-training: exact resume (one device and MirroredStrategy), fall-back past unreadable
checkpoints, saves that never lose the last good checkpoint, and consistency checks that write nothing."""

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from electra_tf import rundir
from electra_tf.data.pretraining_dataset import check_shards
from electra_tf.dropout import Dropout
from electra_tf.pretraining import loop
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.tokenization import load_vocab, special_token_ids

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
TINY = os.path.join(ROOT, "configs", "pretrain", "tiny.json")
SCRIPT = os.path.join(ROOT, "tests", "scripts", "pretrain_resume.py")


@pytest.fixture(scope="module")
def shards(pretraining_shards):
    return pretraining_shards


def _run(model_dir, **overrides):
    config = PretrainingConfig.from_json_file(TINY, {"train_steps": 4, "warmup_steps": 1, **overrides})
    vocab = load_vocab(VOCAB)
    discriminator_config = config.discriminator_config(vocab_size=len(vocab))
    rundir.save_run_configs(model_dir, config, discriminator_config)
    return loop.PretrainingRun(config, discriminator_config, special_token_ids(vocab), model_dir,
                               tf.distribute.get_strategy())


def _weights(run):
    return [variable.numpy().copy() for variable in run.pretrainer.weights]


def _saved_steps(run):
    """Saves after changing the weights, at steps 1 and 2; returns the weights at each."""
    saved = {}
    for step in (1, 2):
        run.optimizer.iterations.assign(step)
        for variable in run.pretrainer.trainable_weights:
            variable.assign(variable + 0.01)
        run.save()
        saved[step] = _weights(run)
    return saved


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["one_device", "mirrored"])
def test_preempted_mid_window_run_resumes_to_the_uninterrupted_weights_and_metrics(shards, tmp_path, strategy):
    result = subprocess.run([sys.executable, SCRIPT, strategy, shards, VOCAB, TINY, str(tmp_path)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["replicas"] == (2 if strategy == "mirrored" else 1) and outcome["step"] == 40
    assert outcome["max_abs_diff"] <= 1e-6
    assert [entry["step"] for entry in outcome["history_full"]] == [10, 20, 30, 40]
    assert outcome["history_resumed"] == outcome["history_full"]  # the window 21-30 spans the preemption


def test_pretrainer_dropouts_are_numbered(tmp_path):
    run = _run(str(tmp_path))
    streams = [layer.stream for layer in run.pretrainer._flatten_layers() if isinstance(layer, Dropout)]
    assert streams == list(range(len(streams))) and len(streams) > 3


def test_window_sums_survive_the_checkpoint_exactly(tmp_path):
    run = _run(str(tmp_path))
    sums = {"loss": np.float32(1) / np.float32(3), "histogram": np.arange(4, dtype=np.float32) / 7}
    run.set_window_state(sums, 20)
    run.optimizer.iterations.assign(25)
    run.save()
    restored = _run(str(tmp_path))
    assert restored.restore() == 25
    window, first_step = restored.window_state()
    assert first_step == 20
    for key, value in sums.items():
        assert window[key].dtype == np.float32
        np.testing.assert_array_equal(window[key], value)


def test_an_unreadable_newest_checkpoint_is_reported_and_the_previous_one_restored(tmp_path, caplog):
    model_dir = str(tmp_path)
    saved = _saved_steps(_run(model_dir))
    data = [name for name in os.listdir(model_dir) if name.startswith("ckpt-2.data")][0]
    with open(os.path.join(model_dir, data), "r+b") as handle:  # truncated, as by a kill during a copy
        handle.truncate(os.path.getsize(os.path.join(model_dir, data)) // 2)
    run = _run(model_dir)
    assert run.restore() == 1
    for actual, expected in zip(_weights(run), saved[1]):
        np.testing.assert_array_equal(actual, expected)
    assert f"Unreadable checkpoint {os.path.join(model_dir, 'ckpt-2')}" in caplog.text
    assert f"Falling back to the previous checkpoint {os.path.join(model_dir, 'ckpt-1')}" in caplog.text


def test_no_readable_checkpoint_is_an_error_naming_them(tmp_path):
    model_dir = str(tmp_path)
    _saved_steps(_run(model_dir))
    for name in os.listdir(model_dir):
        if name.startswith("ckpt-") and name.endswith(".index"):
            open(os.path.join(model_dir, name), "wb").close()
    with pytest.raises(OSError, match="ckpt-2, .*ckpt-1"):
        _run(model_dir).restore()


def test_a_failed_save_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    model_dir = str(tmp_path)
    run = _run(model_dir, keep_checkpoint_max=1)
    run.save()

    def broken_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(run.checkpoint, "write", broken_write)
    monkeypatch.setattr(run.checkpoint, "_write", broken_write, raising=False)
    run.optimizer.iterations.assign(1)
    with pytest.raises(OSError, match="disk full"):
        run.save()
    assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-0")
    assert os.path.exists(os.path.join(model_dir, "ckpt-0.index"))
    run.optimizer.iterations.assign(2)
    monkeypatch.undo()
    run.save()  # a complete newer checkpoint: only now is the old one swept (max_to_keep=1)
    assert not os.path.exists(os.path.join(model_dir, "ckpt-0.index"))


def _other_vocab(tmp_path, extra_token):
    tokens = open(VOCAB, encoding="utf-8").read().splitlines()
    if extra_token:
        tokens.append("[UNUSED_EXTRA]")
    else:
        tokens[-1], tokens[-2] = tokens[-2], tokens[-1]  # same size, different vocabulary
    path = tmp_path / "other_vocab.txt"
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return str(path)


def test_the_corpus_builder_records_the_vocabulary(shards):
    stats = json.load(open(os.path.join(shards, "stats.json")))
    assert stats["vocab_size"] == len(load_vocab(VOCAB))
    assert stats["vocab_sha256"] == hashlib.sha256(open(VOCAB, "rb").read()).hexdigest()


@pytest.mark.parametrize("extra_token", [True, False])
def test_shards_are_checked_against_the_vocabulary(shards, tmp_path, extra_token):
    pattern = os.path.join(shards, "*.tfrecord*")
    check_shards(pattern, 64, VOCAB, len(load_vocab(VOCAB)))
    other = _other_vocab(tmp_path, extra_token)
    message = "vocab_size=" if extra_token else "sha256"
    with pytest.raises(ValueError, match=message) as error:
        check_shards(pattern, 64, other, len(load_vocab(other)))
    assert other in str(error.value) and "stats.json" in str(error.value)


def test_shards_without_stats_are_checked_by_their_first_record(shards, tmp_path):
    copy = tmp_path / "no_stats"
    copy.mkdir()
    for name in os.listdir(shards):
        if ".tfrecord" in name:
            shutil.copy(os.path.join(shards, name), copy / name)
    pattern = str(copy / "*.tfrecord*")
    check_shards(pattern, 64, VOCAB, len(load_vocab(VOCAB)))
    with pytest.raises(ValueError, match="max_seq_length=128 but the first record of .* has 64"):
        check_shards(pattern, 128, VOCAB, len(load_vocab(VOCAB)))
    with pytest.raises(ValueError, match="outside the 10-token vocabulary"):
        check_shards(pattern, 64, VOCAB, 10)


def test_resumed_run_settings_must_match_except_bookkeeping(tmp_path):
    model_dir = str(tmp_path)
    run = _run(model_dir)
    run.save()
    _, discriminator_config = rundir.read_run_configs(model_dir)
    longer = dataclasses.replace(run.config, train_steps=99, log_steps=7)
    rundir.check_run_configs(model_dir, longer, discriminator_config)  # a longer schedule may resume
    other = dataclasses.replace(run.config, mask_prob=0.2)
    with pytest.raises(ValueError, match=r"mask_prob=0.2 for this run but mask_prob=0.15 in .*pretraining_config"):
        rundir.check_run_configs(model_dir, other, discriminator_config)
    with pytest.raises(ValueError, match=r"vocab_size=301 .* vocab_size=\d+ in .*discriminator_config.json"):
        rundir.check_run_configs(model_dir, run.config, discriminator_config.replace(vocab_size=301))


def _tree_hashes(directory):
    hashes = {}
    for parent, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(parent, name)
            hashes[os.path.relpath(path, directory)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return hashes


@pytest.mark.slow
@pytest.mark.parametrize("extra_token", [True, False])
def test_a_wrong_vocabulary_on_resume_fails_before_writing(shards, run_commands, tmp_path, extra_token):
    model_dir = str(tmp_path / "model")
    _run(model_dir).save()
    before = _tree_hashes(model_dir)
    other = _other_vocab(tmp_path, extra_token)
    result = run_commands({"resume": ["-m", "electra_tf.pretraining", f"--config={TINY}", f"--data_dir={shards}",
                                      f"--vocab={other}", f"--model_dir={model_dir}",
                                      '--hparams={"train_steps": 4, "warmup_steps": 1}']})["resume"]
    assert result.returncode != 0
    assert other in result.stderr and "stats.json" in result.stderr, result.stderr[-3000:]
    assert _tree_hashes(model_dir) == before


def _random_ids_fn(vocab_size, config):
    """Uniform random tokens: no context to learn, so the run stays on the unigram plateau."""
    def dataset_fn(context, start_step=0):
        ids = np.random.default_rng(0).integers(5, vocab_size, (16, config.max_seq_length)).astype(np.int32)
        batch = {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids)}
        return tf.data.Dataset.from_tensor_slices(batch).repeat().batch(config.train_batch_size, drop_remainder=True).skip(
            start_step)
    return dataset_fn


def _plateau_warnings(model_dir, train_steps, fraction, caplog):
    """Trains (resuming) to `train_steps` with the plateau warning due at `fraction`; returns the warnings."""
    overrides = {"train_steps": train_steps, "plateau_warning_fraction": fraction, "log_steps": 2,
                 "save_checkpoints_steps": 2, "steps_per_execution": 2, "warmup_steps": 1, "train_batch_size": 4,
                 "max_seq_length": 16}
    config = PretrainingConfig.from_json_file(TINY, overrides)
    vocab = load_vocab(VOCAB)
    discriminator_config = config.discriminator_config(vocab_size=len(vocab))
    rundir.save_run_configs(model_dir, config, discriminator_config)
    run = loop.PretrainingRun(config, discriminator_config, special_token_ids(vocab), model_dir,
                              tf.distribute.get_strategy(), unigram=np.full(len(vocab), 1.0 / len(vocab)))
    caplog.clear()
    loop.train(run, _random_ids_fn(len(vocab), config), log_fn=lambda line: None)
    return [record.message for record in caplog.records if "unigram plateau" in record.message]


def test_the_plateau_warning_is_given_once_per_run_across_a_resume(tmp_path, caplog):
    model_dir = str(tmp_path)
    assert _plateau_warnings(model_dir, 2, 0.0, caplog) == []  # off in the first process
    resumed = _plateau_warnings(model_dir, 4, 0.5, caplog)  # resumed at step 2, not given yet: still can
    assert len(resumed) == 1 and "step 4 of 4" in resumed[0]
    assert _plateau_warnings(model_dir, 6, 0.5, caplog) == []  # resumed at step 4: already given in this run


def test_pretraining_evaluates_on_the_corpus_builders_heldout_shards(run_commands, tmp_path):
    from electra_tf.data.build_pretraining_data import build_pretraining_data
    from support import SAMPLE_CORPUS

    data_dir, model_dir = str(tmp_path / "corpus"), str(tmp_path / "model")
    build_pretraining_data([SAMPLE_CORPUS], VOCAB, data_dir, max_seq_length=64, num_shards=2, heldout_shards=1,
                           progress=False)
    result = run_commands({"train": ["-m", "electra_tf.pretraining", f"--config={TINY}", f"--data_dir={data_dir}",
                                     f"--vocab={VOCAB}", f"--model_dir={model_dir}", '--hparams={"train_steps": 2, '
                                     '"warmup_steps": 1, "log_steps": 2, "save_checkpoints_steps": 2, '
                                     '"steps_per_execution": 1, "eval_batches": 1}']})["train"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Held-out evaluation on {os.path.join(data_dir, 'heldout')}" in result.stderr
    assert [entry["step"] for entry in json.load(open(os.path.join(model_dir, rundir.EVAL_METRICS_FILE)))] == [2]
