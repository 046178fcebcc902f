"""The encoder's `output_positions`: the last layer computed at some positions only equals the full output there."""

import numpy as np
import tensorflow as tf
from conftest import padded_pair_batch, randomize_weights

from electra_tf.config import ElectraConfig
from electra_tf.models import build_model


def test_output_positions_equal_the_full_output_gathered():
    config = ElectraConfig.from_preset("tiny", vocab_size=120)
    model = randomize_weights(build_model(config, "encoder"), seed=3)
    batch = padded_pair_batch(config.vocab_size, batch_size=3, sequence_length=24)
    positions = tf.constant([[0, 5, 9], [1, 2, 3], [0, 0, 7]], tf.int32)
    full = model.electra(batch).numpy()
    partial = model.electra(batch, output_positions=positions).numpy()
    expected = np.take_along_axis(full, positions.numpy()[:, :, None], axis=1)
    assert partial.shape == (3, 3, config.hidden_size)
    np.testing.assert_allclose(partial, expected, atol=1e-5)
    assert np.abs(partial - full[:, :3]).max() > 1e-3  # different positions give different rows
