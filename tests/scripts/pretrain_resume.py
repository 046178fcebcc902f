"""Trains the tiny preset on real shards twice under one strategy: uninterrupted, and preempted (SIGTERM in the
middle of a logging window) then resumed by a fresh `PretrainingRun`; prints the largest weight difference and
whether metrics.json agrees (timing excluded) as JSON.

Usage: pretrain_resume.py STRATEGY(one_device|mirrored) SHARDS VOCAB CONFIG OUTPUT_DIR
(logical devices must be set before TensorFlow starts, hence a subprocess).
"""

import json
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

strategy_name, shards, vocab_file, config_file, output_dir = sys.argv[1:6]
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from electra_tf import rundir, weights  # noqa: E402
from electra_tf.data.pretraining_dataset import make_pretraining_input_fn  # noqa: E402
from electra_tf.preemption import PREEMPTED_EXIT_STATUS  # noqa: E402
from electra_tf.pretraining import loop  # noqa: E402
from electra_tf.pretraining.config import PretrainingConfig  # noqa: E402
from electra_tf.tokenization import load_vocab, special_token_ids  # noqa: E402

SETTINGS = {"train_steps": 40, "save_checkpoints_steps": 20, "log_steps": 10, "steps_per_execution": 5,
            "warmup_steps": 5}
PREEMPT_AT = 25  # mid-window: the checkpoint must carry the sums of steps 21-25


def new_run(model_dir):
    config = PretrainingConfig.from_json_file(config_file, SETTINGS)
    vocab = load_vocab(vocab_file)
    discriminator_config = config.discriminator_config(vocab_size=len(vocab))
    rundir.save_run_configs(model_dir, config, discriminator_config)
    strategy = (tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]) if strategy_name == "mirrored"
                else tf.distribute.OneDeviceStrategy("/cpu:0"))
    keras.utils.set_random_seed(config.seed)  # the same initial weights in both runs
    run = loop.PretrainingRun(config, discriminator_config, special_token_ids(vocab), model_dir, strategy)
    dataset_fn = make_pretraining_input_fn(os.path.join(shards, "*.tfrecord*"), config.max_seq_length,
                                           config.train_batch_size, seed=config.seed)
    return run, dataset_fn


def train(model_dir, preempt_at=None):
    run, dataset_fn = new_run(model_dir)
    if preempt_at:
        train_steps = run.train_steps

        def preempting_train_steps(iterator, steps):
            sums = train_steps(iterator, steps)
            if run.step >= preempt_at:
                os.kill(os.getpid(), signal.SIGTERM)
            return sums

        run.train_steps = preempting_train_steps
        try:
            loop.train(run, dataset_fn, log_fn=lambda line: None)
        except SystemExit as exit_:
            assert exit_.code == PREEMPTED_EXIT_STATUS, exit_.code
        else:
            raise AssertionError("the run was not preempted")
        assert tf.train.latest_checkpoint(model_dir).endswith(f"ckpt-{preempt_at}")
        assert not os.path.exists(os.path.join(model_dir, "export"))
    else:
        loop.train(run, dataset_fn, log_fn=lambda line: None)
    return run


def history(model_dir):
    return [{key: value for key, value in entry.items() if key != "examples_per_second"}
            for entry in json.load(open(os.path.join(model_dir, rundir.METRICS_FILE)))]


full = train(os.path.join(output_dir, "full"))
train(os.path.join(output_dir, "resumed"), preempt_at=PREEMPT_AT)
resumed = train(os.path.join(output_dir, "resumed"))
worst = 0.0
for network in ("discriminator", "generator"):
    expected = weights.model_arrays(getattr(full.pretrainer, network))
    actual = weights.model_arrays(getattr(resumed.pretrainer, network))
    worst = max(worst, *(float(np.abs(expected[name] - actual[name]).max()) for name in expected))
print(json.dumps({"replicas": full.strategy.num_replicas_in_sync, "step": resumed.step, "max_abs_diff": worst,
                  "history_full": history(os.path.join(output_dir, "full")),
                  "history_resumed": history(os.path.join(output_dir, "resumed"))}))
