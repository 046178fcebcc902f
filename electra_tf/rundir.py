"""A pre-training run directory (`run_pretraining.py --model_dir`): the configs written beside the checkpoints
(checked against a resumed run's before anything is written), the checkpoint series, and one network's weights
read from a checkpoint without building the trainer. It sits below both the pre-training loop (which writes run
directories) and the loaders (`pretrained`, which read them).

Checkpoints are `MODEL_DIR/ckpt-<step>` (the rolling `keep_checkpoint_max` ones, managed by
`tf.train.CheckpointManager`) and, with `keep_checkpoint_every_n_steps`, `MODEL_DIR/series/ckpt-<step>`: copies
of the rolling checkpoints whose step is a multiple, made right after each save and never deleted. Copying the
files (rather than a second manager saving again) costs no second serialization, involves only the chief, and
is server-side on gs://; each file is copied under a temporary name then renamed, the `.index` last, so a series
checkpoint whose `.index` exists is complete.
"""

import dataclasses
import json
import os
import re

import tensorflow as tf

from electra_tf import io_utils, weights
from electra_tf.config import ElectraConfig
from electra_tf.models import build_model
from electra_tf.pretraining.config import PretrainingConfig

CONFIG_FILE = "pretraining_config.json"
DISCRIMINATOR_CONFIG_FILE = "discriminator_config.json"
CHECKPOINT_NAME = "ckpt"  # checkpoint prefixes are ckpt-<step>
SERIES_DIR = "series"
METRICS_FILE = "metrics.json"  # every logged window of the run, rewritten atomically at each log step
EVAL_METRICS_FILE = "eval_metrics.json"  # every held-out evaluation (--eval_data_dir), rewritten at each one
CURVES_FILE = "curves.png"  # the run's learning-health curves, redrawn at each checkpoint
NETWORKS = ("discriminator", "generator")
# Settings a resumed run may change (bookkeeping and the schedule's length); all others must match.
RESUMABLE_CHANGES = frozenset({"train_steps", "save_checkpoints_steps", "keep_checkpoint_max",
                               "keep_checkpoint_every_n_steps", "log_steps", "steps_per_execution", "source",
                               "health_rows", "plateau_warning_fraction", "eval_steps", "eval_batches"})


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


def checkpoint_step(path):
    """The step of a checkpoint prefix named `ckpt-<step>`, else None."""
    match = re.fullmatch(rf"{CHECKPOINT_NAME}-(\d+)", os.path.basename(path.rstrip("/")))
    return int(match.group(1)) if match else None


def rolling_checkpoints(model_dir):
    """{step: prefix} of the rolling checkpoints of `model_dir` that still exist."""
    state = tf.train.get_checkpoint_state(model_dir)
    paths = list(state.all_model_checkpoint_paths) if state else []
    return {checkpoint_step(path): path for path in paths
            if checkpoint_step(path) is not None and tf.io.gfile.exists(path + ".index")}


def series_checkpoints(model_dir):
    """{step: prefix} of the checkpoints kept in `MODEL_DIR/series/`."""
    found = tf.io.gfile.glob(os.path.join(model_dir, SERIES_DIR, f"{CHECKPOINT_NAME}-*.index"))
    prefixes = [path[:-len(".index")] for path in found]
    return {checkpoint_step(path): path for path in prefixes if checkpoint_step(path) is not None}


def list_checkpoints(model_dir):
    """{step: prefix} of every checkpoint of a run directory, rolling and series (the series copy when both
    exist: it is never deleted), in step order."""
    found = {**rolling_checkpoints(model_dir), **series_checkpoints(model_dir)}
    return dict(sorted(found.items()))


def keep_series(model_dir, every_n_steps):
    """Copies each rolling checkpoint whose step is a multiple of `every_n_steps` and is not in the series yet
    into `MODEL_DIR/series/` (so one missed by a kill between save and copy is caught up at the next save while
    the rolling one exists). Returns the new series prefixes; nothing when `every_n_steps` is None or 0."""
    if not every_n_steps:
        return []
    kept = series_checkpoints(model_dir)
    added = []
    for step, prefix in rolling_checkpoints(model_dir).items():
        if step % every_n_steps or step in kept:
            continue
        target = os.path.join(model_dir, SERIES_DIR, os.path.basename(prefix))
        for source in sorted(tf.io.gfile.glob(prefix + ".data-*")) + [prefix + ".index"]:
            io_utils.copy_file(source, target + source[len(prefix):])
        added.append(target)
    return added


def run_checkpoint(path):
    """`(model_dir, prefix)` when `path` is a checkpoint prefix of a run directory (`MODEL_DIR/ckpt-<step>` or
    `MODEL_DIR/series/ckpt-<step>`), else None."""
    if checkpoint_step(path) is None or not tf.io.gfile.exists(path + ".index"):
        return None
    parent = os.path.dirname(path.rstrip("/"))
    candidates = [parent] + ([os.path.dirname(parent)] if os.path.basename(parent) == SERIES_DIR else [])
    for model_dir in candidates:
        if tf.io.gfile.exists(os.path.join(model_dir, CONFIG_FILE)):
            return model_dir, path
    return None


def find_checkpoint(model_dir, step=None):
    """The latest checkpoint of `model_dir`, or its checkpoint of `step` (rolling or series); raises a
    FileNotFoundError naming the steps there are."""
    if step is None:
        latest = tf.train.latest_checkpoint(model_dir)
        if not latest:
            raise FileNotFoundError(f"{model_dir} has no checkpoint")
        return latest
    available = list_checkpoints(model_dir)
    if step not in available:
        raise FileNotFoundError(f"{model_dir} has no checkpoint of step {step}; its checkpoints are of steps "
                                f"{list(available) or 'none'}")
    return available[step]


def read_network(path, network, step=None):
    """Returns `(config, arrays)` of `network` from a checkpoint; `arrays` keyed by transformers TF names.
    `path` is a run directory (its latest checkpoint, or the one of `step`) or a checkpoint prefix inside one.
    Only that network is built and restored (the checkpoint's object graph is
    `pretrainer/{discriminator,generator}`; shared embeddings are reached from either)."""
    found = run_checkpoint(path)
    if found and step is not None:
        raise ValueError(f"{path} is one checkpoint: pass its run directory to pick step {step}")
    model_dir, checkpoint_path = found or (path, find_checkpoint(path, step))
    config = network_config(model_dir, network)
    model = build_model(config, network)
    checkpoint = tf.train.Checkpoint(pretrainer=tf.train.Checkpoint(**{network: model}))
    checkpoint.restore(checkpoint_path).expect_partial().assert_existing_objects_matched()
    return config, weights.model_arrays(model)
