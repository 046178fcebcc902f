"""transformers' `tf_model.h5` (Keras 2 HDF5 weights as `TFElectra*.save_pretrained` writes them).

Layout: the root attribute `layer_names` lists the model's top-level layers (`electra`, then the head's);
each layer's group has the attribute `weight_names` and one dataset per weight at
`<layer>/<class scope>/<weight name>`. transformers matches weights by name with the class scope removed,
so every ELECTRA class can read every other's file.
"""

import io

import h5py
import numpy as np
import tensorflow as tf

_CLASS_SCOPES = {
    "encoder": "tf_electra_model",
    "discriminator": "tf_electra_for_pre_training",
    "generator": "tf_electra_for_masked_lm",
    "sequence_classification": "tf_electra_for_sequence_classification",
    "token_classification": "tf_electra_for_token_classification",
    "question_answering": "tf_electra_for_question_answering",
}

# transformers' generator_lm_head holds the word-embedding layer, so its group repeats the embeddings.
_TIED_GROUPS = {"generator_lm_head": "electra/embeddings/"}


def write_h5(arrays, head_type, path):
    """Writes `arrays` (transformers names → arrays) as the `tf_model.h5` of the `head_type` class."""
    scope = _CLASS_SCOPES[head_type]
    groups = {}
    for name in arrays:
        groups.setdefault(name.split("/")[0], []).append(name)
    for group, prefix in _TIED_GROUPS.items():
        if group in groups:
            groups[group] += [name for name in arrays if name.startswith(prefix)]
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        handle.attrs["backend"] = "tensorflow"
        handle.attrs["keras_version"] = "2.21.0"
        handle.attrs["layer_names"] = np.array([group.encode() for group in groups])
        for group, names in groups.items():
            h5_group = handle.create_group(group)
            weight_names = [f"{scope}/{name}" for name in names]
            h5_group.attrs["weight_names"] = np.array([name.encode() for name in weight_names])
            for name, weight_name in zip(names, weight_names):
                h5_group.create_dataset(weight_name, data=np.asarray(arrays[name], dtype=np.float32))
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(buffer.getvalue())


def read_h5(path):
    """Reads a transformers `tf_model.h5` → {transformers name without class scope: array}."""
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"Missing weights file: {path}")
    with tf.io.gfile.GFile(path, "rb") as handle:
        data = io.BytesIO(handle.read())
    arrays = {}
    try:
        with h5py.File(data, "r") as handle:
            for group in handle.attrs["layer_names"]:
                group = group.decode() if isinstance(group, bytes) else group
                for weight_name in handle[group].attrs["weight_names"]:
                    weight_name = weight_name.decode() if isinstance(weight_name, bytes) else weight_name
                    name = weight_name.split("/", 1)[1]  # drop the class scope
                    arrays.setdefault(name, np.asarray(handle[group][weight_name]))
    except (OSError, KeyError) as error:
        raise ValueError(f"{path}: not a transformers tf_model.h5 ({error})") from error
    return arrays
