"""`electra_tf.dropout.Dropout`: the rate, the scale and the randomness of its 16-bit masks."""

import numpy as np
import pytest
import tensorflow as tf

from electra_tf.dropout import Dropout, keyed_by_example


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_drops_at_the_rate_and_scales_the_kept_values(rate):
    layer = Dropout(rate, seed=3)
    inputs = tf.ones([64, 1001])  # odd size: the last 32-bit draw is split and half of it unused
    outputs = layer(inputs, training=True).numpy()
    drop_levels = round(rate * 65536)
    kept = outputs[outputs != 0]
    np.testing.assert_allclose(kept, 65536 / (65536 - drop_levels), rtol=1e-6)
    assert abs((outputs == 0).mean() - rate) < 0.01
    assert abs(outputs.mean() - 1.0) < 0.02  # unbiased
    assert outputs.shape == inputs.shape


def test_masks_differ_between_calls_and_inference_is_the_identity():
    layer = Dropout(0.1, seed=0)
    inputs = tf.random.normal([8, 16, 32])
    first, second = layer(inputs, training=True), layer(inputs, training=True)
    assert not np.array_equal(first.numpy() == 0, second.numpy() == 0)
    np.testing.assert_array_equal(layer(inputs, training=False).numpy(), inputs.numpy())
    zero_masks = [(layer(tf.ones([4096]), training=True).numpy() == 0) for _ in range(2)]
    assert 0 < np.logical_and(*zero_masks).sum() < zero_masks[0].sum()  # independent, not identical


def test_works_in_bfloat16_and_under_xla():
    layer = Dropout(0.1, seed=1, dtype="bfloat16")
    outputs = tf.function(lambda x: layer(x, training=True), jit_compile=True)(tf.ones([4096], tf.bfloat16))
    assert outputs.dtype == tf.bfloat16
    assert abs(float(tf.reduce_mean(tf.cast(outputs == 0, tf.float32))) - 0.1) < 0.03


def test_keyed_masks_follow_the_example_not_the_batch_split():
    layer = Dropout(0.1)
    layer.stream = 3
    inputs = tf.ones([8, 4, 16, 16])
    with keyed_by_example(42, 100):
        whole = layer(inputs, training=True).numpy()
    with keyed_by_example(42, 104):  # the second half of the batch, as a second replica would see it
        half = layer(inputs[4:], training=True).numpy()
    np.testing.assert_array_equal(half, whole[4:])
    assert abs((whole == 0).mean() - 0.1) < 0.02
    with keyed_by_example(42, 100, call=1):  # a shared layer called by the other network
        other_call = layer(inputs, training=True).numpy()
    with keyed_by_example(43, 100):
        other_seed = layer(inputs, training=True).numpy()
    layer.stream = 4
    with keyed_by_example(42, 100):
        other_layer = layer(inputs, training=True).numpy()
    for other in (other_call, other_seed, other_layer):
        assert not np.array_equal(other == 0, whole == 0)


def test_keyed_masks_of_rows_of_another_size_do_not_share_bits():
    """Example 2e in rows of 64 values and example e in rows of 128 start at the same counter (example × blocks):
    a fine-tuning length bucket must not replay another example's mask."""
    layer = Dropout(0.5)
    layer.stream = 0
    with keyed_by_example(42, 200):
        narrow = layer(tf.ones([1, 64]), training=True).numpy() == 0
    with keyed_by_example(42, 100):
        wide = layer(tf.ones([1, 128]), training=True).numpy() == 0
    assert not np.array_equal(narrow, wide[:, :64])
