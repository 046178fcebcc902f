"""Dropout drawing 16 random bits per element instead of a float32 (half the random-number work), with masks
keyed by (seed, example, layer) while `keyed_by_example` is active (pre-training and fine-tuning: exact resume,
and the same masks however the batch is split over replicas or micro-batches)."""

import contextlib
import threading

import keras
import tensorflow as tf

_LEVELS = 1 << 16
_PHILOX = 1  # tf.random.Algorithm.PHILOX: counter-based, 4 uint32 words per counter value
_context = threading.local()  # per thread: MirroredStrategy traces each replica in its own thread


@contextlib.contextmanager
def keyed_by_example(seed, first_example, call=0):
    """While active, numbered `Dropout` layers draw their masks statelessly: row r of the batch is example
    ``first_example + r``; its bits are the Philox stream keyed by `seed` at counter
    ``(example · blocks, row size · 2^40 + call · 2^32 + layer number)``. `call` tells apart calls of shared
    layers."""
    previous = getattr(_context, "keys", None)
    _context.keys = (seed, first_example, call)
    try:
        yield
    finally:
        _context.keys = previous


def keyed():
    """Whether `keyed_by_example` is active (on this thread)."""
    return getattr(_context, "keys", None) is not None


def number_layers(model):
    """Gives each `Dropout` of `model` a stable number (its position in the layer tree) for keyed masks."""
    dropouts = [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, Dropout)]
    for index, layer in enumerate(dropouts):
        layer.stream = index
    return len(dropouts)


def _keyed_levels(inputs, seed, first_example, call, stream):
    """16-bit levels [size] for `inputs` (batch first): each row has its own Philox counter range."""
    rows = tf.shape(inputs, out_type=tf.int64)[0]
    per_row = tf.size(inputs, out_type=tf.int64) // tf.maximum(rows, 1)
    blocks = (per_row + 7) // 8  # counter values per row: 8 levels each
    key = tf.bitcast(tf.reshape(tf.cast(seed, tf.int64), [1]), tf.uint64)
    # the row size in the high word: rows of another size (a fine-tuning length bucket) never share counters
    high = tf.constant((call << 32) + stream, tf.int64) + per_row * (1 << 40)
    counter = tf.bitcast(tf.stack([tf.cast(first_example, tf.int64) * blocks, high]), tf.uint64)
    bits = tf.raw_ops.StatelessRandomUniformFullIntV2(shape=tf.stack([rows, blocks * 4]), key=key, counter=counter,
                                                       alg=_PHILOX, dtype=tf.uint32)
    levels = tf.reshape(tf.bitcast(bits, tf.uint16), [rows, -1])[:, :per_row]
    return tf.reshape(levels, [-1])


class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` in which each 32-bit Philox output decides two elements.

    Keras draws one uniform float per element; on CPU those random numbers were about a tenth of a training
    step's op time. Here the rate is rounded to a multiple of 1/65536 (0.1 → 0.100006) and kept values are
    scaled by the exact keep probability, so the output is unbiased as before. Seeds come from the layer's
    `seed_generator`, as in Keras, unless the layer is numbered (`number_layers`) and `keyed_by_example` is
    active. A layer called twice on one batch passes a different `draw` (0 … 65535) each time, so that its
    keyed masks differ.
    """

    stream = None

    def call(self, inputs, training=False, draw=0):
        drop_levels = round(self.rate * _LEVELS)
        if not training or drop_levels == 0 or drop_levels >= _LEVELS or self.noise_shape is not None:
            return super().call(inputs, training=training)
        keys = getattr(_context, "keys", None)
        size = tf.size(inputs)
        if keys is not None and self.stream is not None:
            levels = _keyed_levels(inputs, *keys, self.stream + (draw << 16))
        else:
            seed = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1), tf.int32)
            bits = tf.random.stateless_uniform([(size + 1) // 2], seed=seed, minval=None, maxval=None,
                                               dtype=tf.uint32)
            levels = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:size]
        keep = tf.reshape(levels >= drop_levels, tf.shape(inputs))
        scale = tf.cast(_LEVELS / (_LEVELS - drop_levels), inputs.dtype)
        return tf.where(keep, inputs * scale, tf.zeros_like(inputs))
