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


def test_skipping_padding_gives_the_same_outputs_and_gradients():
    config = ElectraConfig.from_preset("tiny", vocab_size=120)
    model = randomize_weights(build_model(config, "encoder"), seed=4)
    batch = padded_pair_batch(config.vocab_size, batch_size=3, sequence_length=24)
    assert batch["attention_mask"].sum(1).tolist() != [24, 24, 24]  # rows are padded
    positions = tf.constant([[0, 5, 9], [1, 2, 3], [0, 0, 7]], tf.int32)
    weights = tf.random.stateless_normal([3, 3, config.hidden_size], seed=[1, 2])

    def outputs_and_gradients(skip_padding):
        model.electra.skip_padding = skip_padding

        @tf.function
        def run():
            with tf.GradientTape() as tape:
                output = model.electra(batch, output_positions=positions)
                loss = tf.reduce_sum(output * weights)
            return output, tape.gradient(loss, model.trainable_variables)

        output, gradients = run()
        return output.numpy(), [tf.convert_to_tensor(gradient).numpy() for gradient in gradients]

    full, full_gradients = outputs_and_gradients(False)
    skipped, skipped_gradients = outputs_and_gradients(True)
    np.testing.assert_allclose(skipped, full, atol=1e-5)
    for skipped_gradient, full_gradient in zip(skipped_gradients, full_gradients):
        np.testing.assert_allclose(skipped_gradient, full_gradient, atol=1e-5 * (1 + np.abs(full_gradient).max()))
    model.electra.skip_padding = True
    assert model.electra(batch).shape == (3, 24, config.hidden_size)  # no positions: the whole grid as before
