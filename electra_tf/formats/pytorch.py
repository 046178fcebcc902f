"""PyTorch-format weights: `model.safetensors` (read and written) and `pytorch_model.bin` (read, with torch).

transformers' PyTorch names differ from its TF names mechanically: `.` for `/`, `layer.N` for `layer_._N`,
`weight` for kernels (transposed to [out, in]), LayerNorm gamma and embedding tables; base-model files
(`ElectraModel`) drop the `electra.` prefix.
"""

import io
import re

import numpy as np
import tensorflow as tf
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

_SUFFIXES = {"kernel:0": "weight", "bias:0": "bias", "gamma:0": "weight", "beta:0": "bias",
             "weight:0": "weight", "embeddings:0": "weight"}


def torch_name(tf_name, base_model):
    """transformers TF name → transformers PyTorch name."""
    path, suffix = tf_name.rsplit("/", 1)
    name = re.sub(r"layer_\._(\d+)", r"layer.\1", path).replace("/", ".") + "." + _SUFFIXES[suffix]
    if base_model:
        name = name.removeprefix("electra.")
    return name


def to_torch_arrays(arrays, base_model):
    """TF-named arrays → PyTorch-named arrays (kernels transposed)."""
    result = {}
    for name, value in arrays.items():
        value = np.asarray(value, dtype=np.float32)
        if name.endswith("kernel:0"):
            value = value.T
        result[torch_name(name, base_model)] = np.ascontiguousarray(value)
    return result


_HEAD_PREFIXES = ("electra.", "discriminator_predictions.", "generator_predictions.", "generator_lm_head.",
                  "classifier.", "qa_outputs.")
_SKIPPED = ("generator_lm_head.weight", "position_ids")  # tied copy of the word embeddings; a buffer


def tf_name(torch_name_):
    """transformers PyTorch name → transformers TF name (the inverse of `torch_name`)."""
    if not torch_name_.startswith(_HEAD_PREFIXES):
        torch_name_ = "electra." + torch_name_
    path, suffix = torch_name_.rsplit(".", 1)
    path = re.sub(r"/layer/(\d+)/", r"/layer_._\1/", path.replace(".", "/"))
    if path.endswith("LayerNorm"):
        suffix = {"weight": "gamma:0", "bias": "beta:0"}[suffix]
    elif path.endswith("word_embeddings"):
        suffix = "weight:0"
    elif path.endswith("_embeddings"):
        suffix = "embeddings:0"
    else:
        suffix = {"weight": "kernel:0", "bias": "bias:0"}[suffix]
    return f"{path}/{suffix}"


def from_torch_arrays(torch_arrays):
    """PyTorch-named arrays → TF-named arrays (kernels transposed back to [in, out])."""
    arrays = {}
    for name, value in torch_arrays.items():
        if name.endswith(_SKIPPED):
            continue
        converted = tf_name(name)
        value = np.asarray(value, dtype=np.float32)
        arrays[converted] = value.T if converted.endswith("kernel:0") else value
    return arrays


def write_safetensors(arrays, path, base_model):
    data = save_safetensors(to_torch_arrays(arrays, base_model), metadata={"format": "pt"})
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(data)


def read_safetensors(path):
    """Reads a safetensors file → {PyTorch name: array}."""
    with tf.io.gfile.GFile(path, "rb") as handle:
        data = handle.read()
    try:
        return load_safetensors(data)
    except Exception as error:  # safetensors raises its own error types
        raise ValueError(f"{path}: not a safetensors file ({error})") from error


def read_pytorch_bin(path):
    """Reads `pytorch_model.bin` with `torch.load(weights_only=True)`; never unpickles arbitrary objects."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"{path} is a PyTorch pickle; reading it safely needs torch (pip install torch). "
            "Prefer model.safetensors or tf_model.h5.") from error
    with tf.io.gfile.GFile(path, "rb") as handle:
        state = torch.load(io.BytesIO(handle.read()), map_location="cpu", weights_only=True)
    return {name: tensor.float().numpy() for name, tensor in state.items()}
