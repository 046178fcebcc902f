"""Loads a SavedModel in a process that imports only tensorflow and tensorflow_text, runs its signatures and
saves the outputs: load_saved_model.py SAVED_MODEL_DIR INPUTS_NPZ OUTPUT_NPZ."""

import sys

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the ops TF Serving links)

path, inputs_file, output_file = sys.argv[1:4]
# (tensorflow itself imports keras; what must not be needed is this project's code)
assert not [name for name in sys.modules if name.startswith("electra_tf")]
inputs = np.load(inputs_file)
loaded = tf.saved_model.load(path)
results = {}
ids = {name: tf.constant(inputs[name]) for name in ("input_ids", "attention_mask", "token_type_ids")}
for name, value in loaded.signatures["serving_default"](**ids).items():
    results[f"ids/{name}"] = value.numpy()
for name, value in loaded.signatures["predict_text"](text=tf.constant(inputs["text"])).items():
    results[f"text/{name}"] = value.numpy()
pair = loaded.signatures["predict_text_pair"](text=tf.constant(inputs["text"]), text_pair=tf.constant(inputs["pair"]))
for name, value in pair.items():
    results[f"pair/{name}"] = value.numpy()
np.savez(output_file, **results)
