"""Original google-research/electra (TF1) checkpoints: variable names, config inference, reading and writing.

The original stores the discriminator under `electra/`, the generator's own layers under `generator/` (it
shares `electra/embeddings` unless `untied_generator_embeddings`), and the heads under
`discriminator_predictions/{dense,dense_1}` and `generator_predictions/{dense,LayerNorm,output_bias}`.
Optimizer slots (`adam_m`, `adam_v`) and `global_step` may be present; released checkpoints lack them.
"""

import re

import numpy as np
import tensorflow as tf

from electra_tf.config import ElectraConfig
from electra_tf.models import build_model

_ENCODER_PREFIX = {"discriminator": "electra", "generator": "generator"}


def tf1_name(hf_name, network, untied_embeddings=False):
    """transformers TF name (of the discriminator or generator model) → original checkpoint variable name."""
    name = re.sub(r"layer_\._(\d+)", r"layer_\1", hf_name.removesuffix(":0"))
    name = name.replace("word_embeddings/weight", "word_embeddings")
    name = name.replace("position_embeddings/embeddings", "position_embeddings")
    name = name.replace("token_type_embeddings/embeddings", "token_type_embeddings")
    name = name.replace("discriminator_predictions/dense_prediction/", "discriminator_predictions/dense_1/")
    name = name.replace("generator_lm_head/bias", "generator_predictions/output_bias")
    if network == "generator" and name.startswith("electra/"):
        if not name.startswith("electra/embeddings/") or untied_embeddings:
            name = "generator/" + name.removeprefix("electra/")
    return name


def is_tf1_checkpoint(path):
    """True when `path` is a checkpoint prefix (or a directory with one) holding original ELECTRA variables."""
    prefix = _checkpoint_prefix(path)
    if prefix is None:
        return False
    names = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    return "electra/embeddings/word_embeddings" in names


def _checkpoint_prefix(path):
    if tf.io.gfile.isdir(path):
        return tf.train.latest_checkpoint(path)
    return path if tf.io.gfile.exists(path + ".index") else None


def _infer_config(shapes, network):
    prefix = _ENCODER_PREFIX[network]
    layers = {int(m.group(1)) for name in shapes if (m := re.match(rf"{prefix}/encoder/layer_(\d+)/", name))}
    if not layers:
        raise ValueError(f"The checkpoint has no {prefix}/encoder variables: it holds no {network}")
    vocab_size, embedding_size = shapes["electra/embeddings/word_embeddings"]
    hidden_size = shapes[f"{prefix}/encoder/layer_0/attention/self/query/kernel"][1]
    return ElectraConfig(
        vocab_size=vocab_size,
        embedding_size=embedding_size,
        hidden_size=hidden_size,
        num_hidden_layers=max(layers) + 1,
        num_attention_heads=max(1, hidden_size // 64),  # the original's rule
        intermediate_size=shapes[f"{prefix}/encoder/layer_0/intermediate/dense/kernel"][1],
        max_position_embeddings=shapes["electra/embeddings/position_embeddings"][0],
        type_vocab_size=shapes["electra/embeddings/token_type_embeddings"][0],
    )


def read_tf1_checkpoint(path, network="discriminator", hf_names=None):
    """Reads one network of an original checkpoint.

    Returns `(config, arrays)`: the config inferred from variable shapes (heads = hidden // 64 as the
    original), and transformers-named arrays for `hf_names` (default: every name the config implies).
    """
    prefix = _checkpoint_prefix(path)
    if prefix is None:
        raise FileNotFoundError(f"No TF1 checkpoint at {path} (expected {path}.index or a checkpoint directory)")
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    config = _infer_config(shapes, network)
    untied = network == "generator" and "generator/embeddings/word_embeddings" in shapes
    if hf_names is None:
        head_type = "generator" if network == "generator" else "discriminator"
        hf_names = list(build_model(config, head_type).hf_weights())
    arrays = {}
    for name in hf_names:
        original = tf1_name(name, network, untied)
        if original in shapes:
            arrays[name] = reader.get_tensor(original)
    return config, arrays


def write_tf1_checkpoint(variables, prefix):
    """Writes {original variable name: array} as a TF1-style (name-based) checkpoint at `prefix`."""
    names = sorted(variables)
    tf.raw_ops.SaveV2(
        prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
        tensors=[tf.constant(np.asarray(variables[name])) for name in names])
