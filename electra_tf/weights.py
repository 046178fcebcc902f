"""Moving weights between a model and plain arrays keyed by transformers' TF names.

Arrays are in transformers' TF layout (dense kernels [in, out], attention kernels [H, H]); the model's
keras-hub attention kernels are [H, heads, head_dim], which is the same memory order, so a reshape converts.
"""

import logging

import numpy as np


def hf_layout(name, array):
    """Reshapes a model array into transformers' TF layout (merges attention head dimensions)."""
    array = np.asarray(array)
    if array.ndim == 3:  # attention kernels
        if name.endswith("attention/output/dense/kernel:0"):
            return array.reshape(-1, array.shape[-1])
        return array.reshape(array.shape[0], -1)
    if array.ndim == 2 and name.endswith("bias:0"):  # attention biases [heads, head_dim]
        return array.reshape(-1)
    return array


def model_arrays(model):
    """transformers name → numpy array (transformers' layout) for every weight of `model`."""
    return {name: hf_layout(name, variable.numpy()) for name, variable in model.hf_weights().items()}


def assign_arrays(model, arrays, source, allow_missing_head=True):
    """Assigns `arrays` (transformers names, transformers layout) to `model`.

    Raises on a shape mismatch (naming the weight and both shapes) and on missing encoder weights; head weights
    the source lacks keep their fresh initialization (fine-tuning a new head) unless `allow_missing_head` is
    False. Returns the list of source names that the model did not use.
    """
    targets = model.hf_weights()
    missing = []
    for name, variable in targets.items():
        if name not in arrays:
            missing.append(name)
            continue
        value = np.asarray(arrays[name])
        expected = hf_layout(name, np.zeros(variable.shape, dtype=np.int8)).shape
        if tuple(value.shape) != tuple(expected):
            raise ValueError(
                f"{source}: weight {name!r} has shape {tuple(value.shape)} but the model (from its config) "
                f"expects {tuple(expected)}")
        variable.assign(value.reshape(variable.shape).astype(variable.dtype))
    encoder_missing = [name for name in missing if name.startswith("electra/")]
    if encoder_missing or (missing and not allow_missing_head):
        raise ValueError(f"{source}: missing weights {sorted(missing)}")
    if missing:
        logging.info("%s has no %s weights; they keep their fresh initialization", source, model.head_type)
    return sorted(set(arrays) - set(targets))
