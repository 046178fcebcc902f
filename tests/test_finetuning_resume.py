"""Preemption-safe fine-tuning: a run killed (kill -9) or stopped by SIGTERM mid-epoch and started again with
the same command ends with the weights and eval_results.json of an uninterrupted run (both accumulating the
gradients of 2 micro-batches per optimizer step: nothing of an optimizer step outlives it)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from test_finetuning_shapes import _task, _write_rows

from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.run import finetune
from electra_tf.preemption import PREEMPTED_EXIT_STATUS

ROWS = 200
HPARAMS = {"max_seq_length": 16, "train_batch_size": 8, "eval_batch_size": 64, "num_train_epochs": 3,
           "learning_rate": 1e-3, "save_steps": 5, "logging_steps": 1000, "gradient_accumulation_steps": 2}


def _command(init_checkpoint, data_dir, output_dir):
    return [sys.executable, "-m", "electra_tf.finetuning", "--task", "text_classification",
            "--text_column", "sentence", "--label_column", "topic", "--id_column", "id",
            "--init_checkpoint", init_checkpoint, "--data_dir", data_dir, "--output_dir", output_dir,
            "--hparams", json.dumps(HPARAMS), "--noprogress", "--noexport"]


def _start_and_interrupt(init_checkpoint, data_dir, output_dir, send):
    """Starts the command, waits for its first checkpoint, then `send`s a signal; returns the exit status."""
    process = subprocess.Popen(_command(init_checkpoint, data_dir, output_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    index = os.path.join(output_dir, "checkpoints", "checkpoint")
    while not os.path.exists(index):
        assert process.poll() is None, process.stdout.read().decode()
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(send)
    output = process.communicate(timeout=300)[0].decode()
    return process.returncode, output


def _checkpoint_arrays(output_dir):
    """Every float variable of the latest checkpoint and of the best epoch's weights."""
    arrays = {}
    directory = os.path.join(output_dir, "checkpoints")
    for name, prefix in (("last", tf.train.latest_checkpoint(directory)),
                         ("best", os.path.join(directory, "best", "weights"))):
        reader = tf.train.load_checkpoint(prefix)
        for key, dtype in reader.get_variable_to_dtype_map().items():
            if (dtype.is_floating or dtype.is_integer) and not key.startswith("save_counter"):
                arrays[f"{name}/{key}"] = reader.get_tensor(key)
    return arrays


def _results(output_dir):
    with open(os.path.join(output_dir, "eval_results.json"), encoding="utf-8") as handle:
        results = json.load(handle)
    for record in results["epochs"]:
        record.pop("train_seconds")
    return results


@pytest.mark.slow
def test_killed_and_preempted_runs_resume_to_the_uninterrupted_result(tmp_path, init_checkpoint):
    os.makedirs(tmp_path / "data")
    data_dir = _write_rows(tmp_path / "data", ROWS)
    reference = str(tmp_path / "reference")
    finetune(_task(), load_hparams(None, None, HPARAMS), init_checkpoint, data_dir, reference, progress=False,
             export=False)
    expected, expected_results = _checkpoint_arrays(reference), _results(reference)
    assert expected_results["epochs"][-1]["global_step"] == 75 and len(expected_results["epochs"]) == 3

    for name, send, status in (("killed", signal.SIGKILL, -signal.SIGKILL),
                               ("preempted", signal.SIGTERM, PREEMPTED_EXIT_STATUS)):
        output_dir = str(tmp_path / name)
        returncode, output = _start_and_interrupt(init_checkpoint, data_dir, output_dir, send)
        assert returncode == status, output
        interrupted_at = int(tf.train.latest_checkpoint(os.path.join(output_dir, "checkpoints")).split("-")[-1])
        assert 0 < interrupted_at < 75
        finished = subprocess.run(_command(init_checkpoint, data_dir, output_dir), capture_output=True, text=True, timeout=600)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert "Resumed from" in finished.stderr
        actual = _checkpoint_arrays(output_dir)
        assert actual.keys() == expected.keys()
        for key, value in expected.items():
            np.testing.assert_allclose(actual[key], value, atol=1e-6, rtol=0, err_msg=f"{name}: {key}")
        results = _results(output_dir)
        assert len(results["epochs"]) == 3
        for record, reference_record in zip(results["epochs"], expected_results["epochs"]):
            assert record["train_loss"] == pytest.approx(reference_record["train_loss"], abs=1e-6)
            assert {**record, "train_loss": 0} == {**reference_record, "train_loss": 0}
        for key in ("best", "test"):
            assert results[key] == expected_results[key], key
