"""Shared fixtures: quiet TensorFlow, random weights and a padded two-segment batch."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


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
    """A batch with two segments and padding: row i has a different length and segment split."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(5, vocab_size, (batch_size, sequence_length)).astype("int32")
    attention_mask = np.zeros_like(input_ids)
    token_type_ids = np.zeros_like(input_ids)
    for row in range(batch_size):
        length = sequence_length - 5 * row
        split = length // 2
        attention_mask[row, :length] = 1
        token_type_ids[row, split:length] = 1
        input_ids[row, 0] = 2
        input_ids[row, split - 1] = 3
        input_ids[row, length - 1] = 3
        input_ids[row, length:] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


@pytest.fixture
def batch_factory():
    return padded_pair_batch
