"""The training-step engine of pre-training and fine-tuning: an optimizer that scales the loss under the
`mixed_float16` policy, forward + backward under a `GradientTape` (compiled with `jit_compile` when asked), and
the update (global-norm clipping happens in the optimizer, after the gradients are summed over replicas).
With `accumulation_steps` k > 1 one optimizer step sums the gradients of k micro-batches (see `micro_batches`).

The caller keeps its own outer `tf.function`, which runs `TrainingStep.replica_step` per replica via
`strategy.run`; only the forward/backward function is XLA-compiled, the optimizer's update is not.
"""

import keras
import tensorflow as tf

from electra_tf.optimization import LossScaleOptimizer, create_optimizer, skipped_steps


def needs_loss_scaling():
    """True under `mixed_float16` (float16 gradients underflow without a loss scale; bfloat16 ones do not)."""
    return keras.mixed_precision.global_policy().name == "mixed_float16"


class TrainingStep:
    """`model`'s trainable variables trained on `loss_fn(*args) → (loss, outputs)` by `create_optimizer(**settings)`.

    Build it under the strategy's scope (the optimizer's variables are created here). `loss` is what is
    differentiated (times the loss scale under mixed_float16); `outputs` is what `replica_step` returns.
    """

    def __init__(self, model, loss_fn, jit_compile=False, accumulation_steps=1, **settings):
        self.model = model
        self.accumulation_steps = accumulation_steps
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

    def loss_scale_metrics(self):
        """Under loss scaling, `{"skipped_steps": steps skipped for overflowing gradients so far, "loss_scale": the
        current scale}` (logged with the metrics); else {}."""
        if not isinstance(self.optimizer, LossScaleOptimizer):
            return {}
        return {"skipped_steps": skipped_steps(self.optimizer),
                "loss_scale": float(self.optimizer.dynamic_scale.numpy())}

    def _forward_backward_fn(self, *args):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            loss, outputs = self._loss_fn(*args)
            if isinstance(self.optimizer, LossScaleOptimizer):
                loss = self.optimizer.scale_loss(loss)
        # dense before the global-norm clipping: the norm of an embedding's IndexedSlices counts a row once per
        # occurrence instead of once (as the one-hot embeddings of the original on TPUs do)
        return outputs, [dense(gradient) for gradient in tape.gradient(loss, variables)]

    def replica_step(self, *args):
        """One replica's step (run it under `strategy.run`): forward, backward, update; returns `outputs`.

        With `accumulation_steps` k > 1 the forward and backward run once per micro-batch (`micro_batches`) and
        their gradients and `outputs` are summed before the one update: `loss_fn` must divide by the whole
        batch's normaliser (a rank-0 argument, shared by the micro-batches), so the sum is the batch's loss.
        """
        if self.accumulation_steps == 1:
            outputs, gradients = self._forward_backward(*args)
        else:
            outputs, gradients = self._accumulate(args)
        self.optimizer.apply(gradients, self.model.trainable_variables)
        return outputs

    def _accumulate(self, args):
        count = self.accumulation_steps
        split = tf.nest.map_structure(lambda value: micro_batches(value, count), args)

        def micro_batch(index):
            return tf.nest.map_structure(lambda value: value if value.shape.rank == 0 else value[index], split)

        def summed(index, outputs, gradients):
            # the next micro-batch starts once the sums so far exist: one micro-batch's activations alive at a time
            with tf.control_dependencies([gradient for gradient in gradients if gradient is not None]):
                more_outputs, more_gradients = self._forward_backward(*micro_batch(index))
            return (index + 1, tf.nest.map_structure(tf.add, outputs, more_outputs),
                    [total + gradient for total, gradient in zip(gradients, more_gradients)])

        outputs, gradients = self._forward_backward(*micro_batch(0))
        _, outputs, gradients = tf.while_loop(lambda index, *_: index < count, summed,
                                              (tf.constant(1), outputs, gradients), parallel_iterations=1)
        return outputs, gradients


def dense(gradient):
    """`gradient` as a dense tensor (an embedding's `IndexedSlices` summed into its full shape; None stays)."""
    return None if gradient is None else tf.convert_to_tensor(gradient)


def micro_batches(value, count):
    """`value` [rows, ...] as [count, rows / count, ...] (row r of micro-batch i is row i · rows / count + r, so
    each micro-batch keeps its rows' example ids); a rank-0 value (a normaliser of the whole batch) as is."""
    value = tf.convert_to_tensor(value)
    if value.shape.rank == 0:
        return value
    rows = value.shape[0]
    if rows is not None and rows % count:
        raise ValueError(f"gradient_accumulation_steps {count} does not divide the {rows} rows of a replica's batch")
    if value.shape.is_fully_defined():
        return tf.reshape(value, [count, rows // count] + value.shape[1:].as_list())
    return tf.reshape(value, tf.concat([[count, -1], tf.shape(value)[1:]], axis=0))
