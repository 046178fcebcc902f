"""Moving weights between a model and plain arrays keyed by transformers' TF names.

The model's variables have transformers' TF shapes (dense kernels [in, out], attention kernels [H, H]), so
arrays move as they are.
"""

import logging

import numpy as np


def model_arrays(model):
    """transformers name → numpy array (transformers' layout) for every weight of `model`."""
    return {name: variable.numpy() for name, variable in model.hf_weights().items()}


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
        expected = tuple(variable.shape)
        if tuple(value.shape) != expected:
            raise ValueError(
                f"{source}: weight {name!r} has shape {tuple(value.shape)} but the model (from its config) "
                f"expects {expected}")
        variable.assign(value.astype(variable.dtype))
    encoder_missing = [name for name in missing if name.startswith("electra/")]
    if encoder_missing or (missing and not allow_missing_head):
        raise ValueError(f"{source}: missing weights {sorted(missing)}")
    if missing:
        logging.info("%s has no %s weights; they keep their fresh initialization", source, model.head_type)
    return sorted(set(arrays) - set(targets))
