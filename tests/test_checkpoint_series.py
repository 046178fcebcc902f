"""The checkpoint series: pre-training keeps every keep_checkpoint_every_n_steps checkpoint in MODEL_DIR/series/
besides the rolling ones; rundir reads any of them; `run_finetuning.py --checkpoint_steps` fine-tunes each into
OUTPUT/step-<N>/ and writes checkpoint_scores.tsv and .png, skipping steps already scored."""

import math
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from support import fixture_dir

from electra_tf import rundir
from electra_tf.finetuning import checkpoint_series
from electra_tf.pretrained import detect_source
from electra_tf.pretraining import loop
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.tokenization import load_vocab, special_token_ids

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "configs", "pretrain", "tiny.json")
FINETUNE_TINY = os.path.join(ROOT, "configs", "finetune", "tiny.json")
SERIES = {"train_steps": 8, "save_checkpoints_steps": 2, "keep_checkpoint_max": 1,
          "keep_checkpoint_every_n_steps": 4, "log_steps": 2, "steps_per_execution": 2, "warmup_steps": 2,
          "train_batch_size": 4, "max_seq_length": 32}


def _dataset_fn(vocab_size, config):
    def dataset_fn(context, start_step=0):
        rng = np.random.default_rng(context.input_pipeline_id)
        ids = rng.integers(5, vocab_size, (64, config.max_seq_length)).astype(np.int32)
        ids[:, 0], ids[:, -1] = 2, 3
        batch = {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": np.zeros_like(ids)}
        rows = context.get_per_replica_batch_size(config.train_batch_size)
        batches = tf.data.Dataset.from_tensor_slices(batch).repeat().batch(rows, drop_remainder=True)
        return batches.skip(start_step)  # loop.train resumes the data at the restored step
    return dataset_fn


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, finetune_vocab):
    """A tiny pre-training run of 8 steps, saving every 2, keeping 1 rolling checkpoint and every 4th step."""
    model_dir = str(tmp_path_factory.mktemp("run"))
    config = PretrainingConfig.from_json_file(TINY, SERIES)
    vocab = load_vocab(finetune_vocab)
    discriminator_config = config.discriminator_config(vocab_size=len(vocab))
    rundir.save_run_configs(model_dir, config, discriminator_config)
    run = loop.PretrainingRun(config, discriminator_config, special_token_ids(vocab), model_dir,
                              tf.distribute.get_strategy())
    loop.train(run, _dataset_fn(len(vocab), config), log_fn=lambda line: None)
    return model_dir


def _indexes(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith(".index"))


def test_pretraining_keeps_the_series_besides_the_rolling_checkpoints(run_dir):
    assert _indexes(run_dir) == ["ckpt-8.index"]  # keep_checkpoint_max 1: ckpt-2, 4, 6 were deleted
    series = os.path.join(run_dir, rundir.SERIES_DIR)
    assert _indexes(series) == ["ckpt-4.index", "ckpt-8.index"]  # 2 and 6 are not multiples of 4
    assert not [name for name in os.listdir(series) if ".tmp-" in name]
    assert list(rundir.list_checkpoints(run_dir)) == [4, 8]
    assert rundir.keep_series(run_dir, 4) == []  # nothing new to keep


def test_a_missed_series_checkpoint_is_caught_up_at_the_next_save(run_dir, tmp_path):
    copy = str(tmp_path / "run")
    for source, _, files in os.walk(run_dir):
        target = os.path.join(copy, os.path.relpath(source, run_dir))
        os.makedirs(target, exist_ok=True)
        for name in files:
            tf.io.gfile.copy(os.path.join(source, name), os.path.join(target, name))
    for name in os.listdir(os.path.join(copy, "series")):
        if name.startswith("ckpt-8."):
            os.remove(os.path.join(copy, "series", name))
    assert list(rundir.series_checkpoints(copy)) == [4]
    assert rundir.keep_series(copy, 4) == [os.path.join(copy, "series", "ckpt-8")]
    assert list(rundir.series_checkpoints(copy)) == [4, 8]


def test_each_checkpoint_of_the_series_reads_as_its_own_network(run_dir):
    _, at_4 = rundir.read_network(run_dir, "discriminator", step=4)
    _, at_8 = rundir.read_network(run_dir, "discriminator", step=8)
    _, latest = rundir.read_network(run_dir, "discriminator")
    prefix = os.path.join(run_dir, "series", "ckpt-4")
    assert detect_source(prefix) == "pretraining"
    _, by_path = rundir.read_network(prefix, "discriminator")
    name = next(name for name in at_4 if "encoder" in name and "kernel" in name)
    assert not np.array_equal(at_4[name], at_8[name])  # training moved the weights between steps 4 and 8
    for key in at_8:
        np.testing.assert_array_equal(latest[key], at_8[key])
        np.testing.assert_array_equal(by_path[key], at_4[key])
    with pytest.raises(FileNotFoundError, match=r"no checkpoint of step 6; its checkpoints are of steps \[4, 8\]"):
        rundir.read_network(run_dir, "discriminator", step=6)


def test_keep_every_must_be_a_multiple_of_the_save_interval():
    with pytest.raises(ValueError, match="keep_checkpoint_every_n_steps"):
        PretrainingConfig.from_json_file(TINY, {"save_checkpoints_steps": 2, "keep_checkpoint_every_n_steps": 3})
    assert PretrainingConfig.from_json_file(TINY).keep_checkpoint_every_n_steps is None


@pytest.mark.parametrize("text, error", [("x", "--checkpoint_steps must be"), ("", "--checkpoint_steps must be"),
                                         ("-4", "--checkpoint_steps must be")])
def test_bad_step_lists_name_the_flag(text, error):
    with pytest.raises(ValueError, match=error):
        checkpoint_series.parse_steps(text)
    assert checkpoint_series.parse_steps(" 8,4,8 ") == [4, 8]
    assert checkpoint_series.parse_steps("ALL") is None


def _png_size(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.slow
def test_the_command_scores_two_checkpoints_and_skips_them_on_a_rerun(run_dir, tmp_path, finetune_vocab):
    output = str(tmp_path / "scores")
    command = [sys.executable, os.path.join(ROOT, "run_finetuning.py"), "--task=text_classification",
               "--text_column=sentence", "--label_column=topic", "--id_column=id", f"--config={FINETUNE_TINY}",
               f"--init_checkpoint={run_dir}", f"--vocab={finetune_vocab}", f"--data_dir={fixture_dir('generic')}",
               f"--output_dir={output}", "--checkpoint_steps=4,8", "--noprogress", "--noexport",
               '--hparams={"num_train_epochs": 1, "max_steps_per_epoch": 2, "max_seq_length": 32}']
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-3000:]

    lines = open(os.path.join(output, checkpoint_series.SCORES_FILE), encoding="utf-8").read().splitlines()
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:]]
    assert header[:2] == ["step", "best_epoch"] and "dev_accuracy" in header and "test_accuracy" in header
    assert [row[0] for row in rows] == ["4", "8"]
    for row in rows:
        assert len(row) == len(header) and all(math.isfinite(float(value)) for value in row)
    width, height = _png_size(os.path.join(output, checkpoint_series.PLOT_FILE))
    assert width > 100 and height > 100
    for step in (4, 8):
        results = open(os.path.join(output, f"step-{step}", "eval_results.json"), encoding="utf-8").read()
        assert f"series/ckpt-{step}" in results  # each step fine-tuned its own checkpoint

    def must_not_run(*args):
        raise AssertionError(f"step already scored was fine-tuned again: {args}")

    again = checkpoint_series.score_checkpoints(run_dir, "all", output, must_not_run, "accuracy",
                                                vocab_file=finetune_vocab)
    assert [row["step"] for row in again] == [4, 8]
    with pytest.raises(ValueError, match=r"no checkpoint of step\(s\) \[6\]; it has steps \[4, 8\]"):
        checkpoint_series.score_checkpoints(run_dir, "4,6", output, must_not_run, "accuracy",
                                            vocab_file=finetune_vocab)
