"""A pre-training run directory (`run_pretraining.py --model_dir`): the configs written beside the checkpoints
(checked against a resumed run's before anything is written), and one network's weights read from the latest
checkpoint without building the trainer."""

import dataclasses
import json
import os

import tensorflow as tf

from electra_tf import io_utils, weights
from electra_tf.config import ElectraConfig
from electra_tf.models import build_model
from electra_tf.pretraining.config import PretrainingConfig

CONFIG_FILE = "pretraining_config.json"
DISCRIMINATOR_CONFIG_FILE = "discriminator_config.json"
METRICS_FILE = "metrics.json"  # every logged window of the run, rewritten atomically at each log step
NETWORKS = ("discriminator", "generator")
# Settings a resumed run may change (bookkeeping and the schedule's length); all others must match.
RESUMABLE_CHANGES = frozenset({"train_steps", "save_checkpoints_steps", "keep_checkpoint_max",
                               "keep_checkpoint_every_n_steps", "log_steps", "steps_per_execution", "source"})


def save_run_configs(model_dir, config, discriminator_config):
    """Writes the configs beside the checkpoints (a resumed or exported run rebuilds the models from them)."""
    tf.io.gfile.makedirs(model_dir)
    config.to_json_file(os.path.join(model_dir, CONFIG_FILE))
    discriminator_config.to_json_file(os.path.join(model_dir, DISCRIMINATOR_CONFIG_FILE))


def check_run_configs(model_dir, config, discriminator_config):
    """Raises ValueError when `model_dir` holds a checkpoint and configs that differ from these (a setting
    outside `RESUMABLE_CHANGES`, or any discriminator setting such as vocab_size), naming both values and
    the file. Writes nothing."""
    if not tf.train.latest_checkpoint(model_dir):
        return
    for name, current, ignored in ((CONFIG_FILE, dataclasses.asdict(config), RESUMABLE_CHANGES),
                                   (DISCRIMINATOR_CONFIG_FILE, discriminator_config.to_dict(), frozenset())):
        path = os.path.join(model_dir, name)
        if not tf.io.gfile.exists(path):
            continue
        saved, current = io_utils.read_json(path), json.loads(json.dumps(current))
        for key in sorted(set(saved) & set(current) - ignored):
            if saved[key] != current[key]:
                raise ValueError(f"{key}={current[key]!r} for this run but {key}={saved[key]!r} in {path} "
                                 f"(the run being resumed); use a new --model_dir or the same settings")


def read_run_configs(model_dir):
    """`(PretrainingConfig, discriminator ElectraConfig)` of a run directory."""
    return (PretrainingConfig.from_json_file(os.path.join(model_dir, CONFIG_FILE)),
            ElectraConfig.from_json_file(os.path.join(model_dir, DISCRIMINATOR_CONFIG_FILE)))


def is_pretraining_dir(path):
    return tf.io.gfile.exists(os.path.join(path, CONFIG_FILE)) and bool(tf.train.latest_checkpoint(path))


def network_config(model_dir, network):
    """The ElectraConfig of `network` ('discriminator' or 'generator') of a run directory."""
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {NETWORKS}, not {network!r}")
    config, discriminator_config = read_run_configs(model_dir)
    return discriminator_config if network == "discriminator" else config.generator_config(discriminator_config)


def read_network(model_dir, network):
    """Returns `(config, arrays)` of `network` from the latest checkpoint of `model_dir`; `arrays` keyed by
    transformers TF names. Only that network is built and restored (the checkpoint's object graph is
    `pretrainer/{discriminator,generator}`; shared embeddings are reached from either)."""
    config = network_config(model_dir, network)
    model = build_model(config, network)
    checkpoint = tf.train.Checkpoint(pretrainer=tf.train.Checkpoint(**{network: model}))
    checkpoint.restore(tf.train.latest_checkpoint(model_dir)).expect_partial().assert_existing_objects_matched()
    return config, weights.model_arrays(model)
