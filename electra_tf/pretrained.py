"""Loading a model from whatever holds one: a transformers directory, a keras-hub ELECTRA preset, an original
ELECTRA TF1 checkpoint, or a pre-training directory of this project (`run_pretraining.py --model_dir`) or one of
its checkpoints (`MODEL_DIR/ckpt-<step>`, `MODEL_DIR/series/ckpt-<step>`)."""

import logging
import os

import tensorflow as tf

from electra_tf import rundir, weights
from electra_tf.config import HEAD_ARCHITECTURES, ElectraConfig
from electra_tf.formats import hf_h5, keras_hub, pytorch, tf1_checkpoint
from electra_tf.models import build_model

_HEAD_BY_ARCHITECTURE = {name: head for head, name in HEAD_ARCHITECTURES.items()}


def head_from_architectures(config):
    """The head type named by `config.architectures` (transformers' PyTorch or TF class names)."""
    for name in config.architectures or []:
        head = _HEAD_BY_ARCHITECTURE.get(name.removeprefix("TF"))
        if head:
            return head
    return "encoder"


def read_transformers_directory(path):
    """Returns `(config, arrays)` of a transformers directory; `arrays` keyed by transformers TF names."""
    config = ElectraConfig.from_json_file(os.path.join(path, "config.json"))
    h5_path = os.path.join(path, "tf_model.h5")
    if tf.io.gfile.exists(h5_path):
        return config, hf_h5.read_h5(h5_path)
    for filename, reader in (("model.safetensors", pytorch.read_safetensors),
                             ("pytorch_model.bin", pytorch.read_pytorch_bin)):
        file_path = os.path.join(path, filename)
        if tf.io.gfile.exists(file_path):
            return config, pytorch.from_torch_arrays(reader(file_path))
    raise FileNotFoundError(
        f"{path} has config.json but no weights: expected tf_model.h5, model.safetensors or pytorch_model.bin")


def find_vocab(input_path):
    """The `vocab.txt` beside (or inside) a model input, or a keras-hub preset's vocabulary, if there is one."""
    directory = input_path if tf.io.gfile.isdir(input_path) else os.path.dirname(input_path)
    for candidate in (os.path.join(directory, "vocab.txt"), os.path.join(directory, keras_hub.VOCABULARY_PATH)):
        if tf.io.gfile.exists(candidate):
            return candidate
    return None


def detect_source(path):
    """'transformers', 'keras_hub', 'pretraining' or 'tf1' for what `path` holds; raises naming the path
    otherwise."""
    if keras_hub.preset_class(path):
        return "keras_hub"
    if tf.io.gfile.isdir(path) and tf.io.gfile.exists(os.path.join(path, "config.json")):
        return "transformers"
    if (tf.io.gfile.isdir(path) and rundir.is_pretraining_dir(path)) or rundir.run_checkpoint(path):
        return "pretraining"
    if tf1_checkpoint.is_tf1_checkpoint(path):
        return "tf1"
    raise FileNotFoundError(
        f"{path} is neither a transformers directory (config.json + weights), a keras-hub ELECTRA preset, a "
        "pre-training directory of this project, nor an original ELECTRA checkpoint")


def read_config(path, network="discriminator"):
    """The `ElectraConfig` of `network` of what `path` holds (see `detect_source`), read without its weights."""
    source = detect_source(path)
    if source == "transformers":
        return ElectraConfig.from_json_file(os.path.join(path, "config.json"))
    if source == "keras_hub":
        return keras_hub.preset_config(path)
    if source == "pretraining":
        model_dir, _ = rundir.run_checkpoint(path) or (path, None)
        return rundir.network_config(model_dir, network)
    return tf1_checkpoint.read_tf1_checkpoint(path, network, hf_names=[])[0]


def read_source(path, network="discriminator"):
    """Returns `(config, arrays, default_head)` of what `path` holds (see `detect_source`); `arrays` keyed by
    transformers TF names. `network` picks the network of a pre-training or TF1 checkpoint."""
    source = detect_source(path)
    if source == "transformers":
        config, arrays = read_transformers_directory(path)
        return config, arrays, head_from_architectures(config)
    if source == "keras_hub":
        config, arrays = keras_hub.read_preset(path)
        return config, arrays, "encoder"
    if source == "pretraining":
        config, arrays = rundir.read_network(path, network)
    else:
        config, arrays = tf1_checkpoint.read_tf1_checkpoint(path, network, hf_names=None)
    return config, arrays, "generator" if network == "generator" else "discriminator"


def load_pretrained(path, head_type=None, network="discriminator", labels=None, config_overrides=None):
    """Builds a model for `head_type` and loads the weights at `path` into it.

    `head_type` defaults to what the source holds (its `architectures`, or `network` for a checkpoint).
    A head the source lacks starts freshly initialized (for fine-tuning); the encoder must be complete.
    `network` picks the discriminator or the generator of a pre-training or TF1 checkpoint; `labels` (ordered names) sets
    `id2label` for a classification head; `config_overrides` replaces other config fields (e.g. dropout).
    """
    config, arrays, default_head = read_source(path, network)
    if config_overrides:
        config = config.replace(**config_overrides)
    if labels is not None:
        config = config.with_labels(labels)
    head_type = head_type or default_head
    model = build_model(config, head_type)
    unused = weights.assign_arrays(model, arrays, path)
    if unused:
        logging.info("%s: %d weights not used by %s", path, len(unused), model.architecture)
    return model
