"""The training-step engine of pre-training and fine-tuning: an optimizer that scales the loss under the
`mixed_float16` policy, forward + backward under a `GradientTape` (compiled with `jit_compile` when asked), and
the update (global-norm clipping happens in the optimizer, after the gradients are summed over replicas).

The caller keeps its own outer `tf.function`, which runs `TrainingStep.replica_step` per replica via
`strategy.run`; only the forward/backward function is XLA-compiled, the optimizer's update is not.
"""

import keras
import tensorflow as tf

from electra_tf.optimization import create_optimizer


def needs_loss_scaling():
    """True under `mixed_float16` (float16 gradients underflow without a loss scale; bfloat16 ones do not)."""
    return keras.mixed_precision.global_policy().name == "mixed_float16"


class TrainingStep:
    """`model`'s trainable variables trained on `loss_fn(*args) → (loss, outputs)` by `create_optimizer(**settings)`.

    Build it under the strategy's scope (the optimizer's variables are created here). `loss` is what is
    differentiated (times the loss scale under mixed_float16); `outputs` is what `replica_step` returns.
    """

    def __init__(self, model, loss_fn, jit_compile=False, **settings):
        self.model = model
        self.optimizer = create_optimizer(loss_scale=needs_loss_scaling(), **settings)
        self.optimizer.build(model.trainable_variables)
        self._loss_fn = loss_fn
        self._forward_backward = tf.function(self._forward_backward_fn, jit_compile=jit_compile)

    @property
    def step(self):
        """The number of optimizer steps taken so far."""
        return int(self.optimizer.iterations.numpy())

    def learning_rate(self):
        """The learning rate of the next step."""
        return float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))

    def _forward_backward_fn(self, *args):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss, outputs = self._loss_fn(*args)
            if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
                loss = self.optimizer.scale_loss(loss)
        return outputs, tape.gradient(loss, variables)

    def replica_step(self, *args):
        """One replica's step (run it under `strategy.run`): forward, backward, update; returns `outputs`."""
        outputs, gradients = self._forward_backward(*args)
        self.optimizer.apply(gradients, self.model.trainable_variables)
        return outputs
