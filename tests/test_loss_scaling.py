"""float16 with dynamic loss scaling: an overflowing step is skipped (weights and Adam moments untouched) and
counted, still counting as a step of the schedule; the next finite step applies; the scale is checkpointed."""

import keras
import numpy as np
import tensorflow as tf

from electra_tf.training_step import TrainingStep

LEARNING_RATE, TRAIN_STEPS, BETA_1, BETA_2, EPSILON = 1e-2, 10, 0.9, 0.999, 1e-6


class _Dense(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3, dtype="mixed_float16")
        self.dense.build((None, 4))


def _engine():
    keras.utils.set_random_seed(0)
    model = _Dense()
    factor = tf.Variable(1.0)  # set to 1e30 to overflow the float16 gradients

    def loss_fn(inputs):
        loss = tf.reduce_sum(tf.cast(model.dense(inputs), tf.float32)) * factor
        return loss, loss

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        engine = TrainingStep(model, loss_fn, learning_rate=LEARNING_RATE, train_steps=TRAIN_STEPS,
                              weight_decay_rate=0.0, clip_norm=0.0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return engine, model, factor, tf.function(engine.replica_step)


def _adam(weights, gradient, steps):
    """ELECTRA's AdamW (no bias correction, no decay) by hand over the applied steps' learning rates."""
    m = v = np.zeros_like(weights)
    for step in steps:
        m, v = BETA_1 * m + (1 - BETA_1) * gradient, BETA_2 * v + (1 - BETA_2) * gradient ** 2
        weights = weights - LEARNING_RATE * (1 - step / TRAIN_STEPS) * m / (np.sqrt(v) + EPSILON)
    return weights


def test_an_overflowing_step_is_skipped_and_counted_and_the_next_finite_step_applies(tmp_path):
    engine, model, factor, step = _engine()
    inputs = tf.constant(np.full((1, 4), 0.01, np.float32))  # one row: 2^15 · 2 rows overflows float16
    kernel, bias = model.dense.kernel.numpy(), model.dense.bias.numpy()
    step(inputs)
    assert engine.loss_scale_metrics() == {"skipped_steps": 0, "loss_scale": 2.0 ** 15}
    after_first = [variable.numpy() for variable in engine.optimizer.variables]
    factor.assign(1e30)
    step(inputs)
    assert engine.loss_scale_metrics() == {"skipped_steps": 1, "loss_scale": 2.0 ** 14}
    assert engine.step == 2  # the skipped step counts as a step of the schedule and the data
    for before, variable in zip(after_first, engine.optimizer.variables):
        if "iteration" not in variable.path and variable.path.split("/")[-1] not in ("dynamic_scale",
                                                                                    "step_counter", "skipped_steps"):
            np.testing.assert_array_equal(variable.numpy(), before, err_msg=variable.path)  # moments untouched
    factor.assign(1.0)
    step(inputs)
    assert engine.loss_scale_metrics()["skipped_steps"] == 1 and engine.step == 3
    # the gradients of sum(dense(x)): x for the kernel, 1 for the bias; steps 0 and 2 applied
    np.testing.assert_allclose(model.dense.kernel.numpy(), _adam(kernel, 0.01, [0, 2]), atol=1e-5, rtol=0)
    np.testing.assert_allclose(model.dense.bias.numpy(), _adam(bias, 1.0, [0, 2]), atol=1e-5, rtol=0)

    path = tf.train.Checkpoint(optimizer=engine.optimizer).save(str(tmp_path / "ckpt"))
    restored, _, _, _ = _engine()
    tf.train.Checkpoint(optimizer=restored.optimizer).restore(path).assert_existing_objects_matched()
    assert restored.loss_scale_metrics() == engine.loss_scale_metrics() and restored.step == 3
