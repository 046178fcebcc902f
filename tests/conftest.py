"""Shared fixtures: quiet TensorFlow, random weights and a padded two-segment batch."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402


def randomize_weights(model, seed=0, scale=0.05):
    """Gives every variable random values (biases and LayerNorm too, so no mapping hides behind zeros/ones)."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        noise = rng.normal(0.0, scale, variable.shape).astype("float32")
        if variable.name == "gamma":
            noise += 1.0
        variable.assign(noise)
    return model


def padded_pair_batch(vocab_size, batch_size=3, sequence_length=24, seed=1):
    """A batch with two segments and padding (row i is shorter): `electra_tf.parity.sample_batch`."""
    from electra_tf.parity import sample_batch

    return sample_batch(vocab_size, batch_size, sequence_length, seed)
