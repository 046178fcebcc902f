"""ELECTRA's optimizer: AdamW without bias correction, warmup + polynomial decay, global-norm clipping,
and layer-wise learning-rate decay for fine-tuning (google-research/electra `model/optimization.py`).
"""

import re

import keras
import tensorflow as tf
from keras import ops

# Variables whose names match these get no weight decay (LayerNorm parameters and biases, as the original).
NO_DECAY_PATTERN = re.compile(r"(LayerNorm|layer_norm|gamma|beta|bias)")


class WarmupPolynomialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr · (1 − step/train_steps)^power · min(1, step/warmup_steps): warmup and decay overlap, as the original."""

    def __init__(self, learning_rate, train_steps, warmup_steps=0, power=1.0):
        self.learning_rate = learning_rate
        self.train_steps = train_steps
        self.warmup_steps = warmup_steps
        self.power = power

    def __call__(self, step):
        step = ops.cast(step, "float32")
        progress = ops.minimum(step, float(self.train_steps)) / float(max(1, self.train_steps))
        rate = self.learning_rate * ops.power(1.0 - progress, self.power)
        if self.warmup_steps:
            rate = rate * ops.minimum(1.0, step / float(self.warmup_steps))
        return rate

    def get_config(self):
        return dict(learning_rate=self.learning_rate, train_steps=self.train_steps,
                    warmup_steps=self.warmup_steps, power=self.power)


class ElectraAdamW(keras.optimizers.Optimizer):
    """Adam with decoupled weight decay and no bias correction (the original `AdamWeightDecayOptimizer`).

    `clip_norm` clips the *global* gradient (summed over replicas) by its global norm, as a single device
    would; `lr_multipliers` maps a variable path regex to a learning-rate factor (layer-wise decay).
    `bias_correction=True` gives PyTorch's `AdamW` instead (what the KoELECTRA fine-tuning recipes used).
    """

    def __init__(self, learning_rate, weight_decay_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                 clip_norm=1.0, lr_multipliers=None, bias_correction=False, name="electra_adamw", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.bias_correction = bias_correction
        self.weight_decay_rate = weight_decay_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.clip_norm = clip_norm
        self.lr_multipliers = dict(lr_multipliers or {})

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._m = [self.add_variable_from_reference(v, "m") for v in variables]
        self._v = [self.add_variable_from_reference(v, "v") for v in variables]
        self._decay = {self._var_key(v): not NO_DECAY_PATTERN.search(v.path) for v in variables}
        self._multiplier = {self._var_key(v): self._multiplier_for(v.path) for v in variables}

    def _multiplier_for(self, path):
        for pattern, factor in self.lr_multipliers.items():
            if re.search(pattern, path):
                return factor
        return 1.0

    def _all_reduce_sum_gradients(self, grads_and_vars):
        # Keras clips before summing over replicas; the original clips the global gradient, so clip here.
        grads_and_vars = list(super()._all_reduce_sum_gradients(grads_and_vars))
        if self.clip_norm:
            grads, variables = zip(*grads_and_vars)
            grads, _ = tf.clip_by_global_norm(list(grads), self.clip_norm)
            grads_and_vars = list(zip(grads, variables))
        return grads_and_vars

    def update_step(self, gradient, variable, learning_rate):
        """One fused `ResourceApplyAdam` per variable (one pass over the weights instead of about twelve).

        Decoupled weight decay is applied first, from the weight before the step, as the original does.
        Without bias correction the beta powers are 0 (the op's correction factors become 1); with it,
        ``epsilon * sqrt(1 - beta_2^t)`` makes the op's ``lr_t * m / (sqrt(v) + eps_t)`` equal PyTorch's
        ``lr * m_hat / (sqrt(v_hat) + eps)``.
        """
        index = self._get_variable_index(variable)
        key = self._var_key(variable)
        dtype = variable.dtype
        gradient = tf.cast(tf.convert_to_tensor(gradient), dtype)  # embeddings: IndexedSlices → dense
        learning_rate = tf.cast(learning_rate, dtype) * self._multiplier[key]
        if self.weight_decay_rate and self._decay[key]:
            variable.assign_sub(learning_rate * self.weight_decay_rate * variable)
        epsilon = tf.constant(self.epsilon, dtype)
        beta_1_power = beta_2_power = tf.zeros([], dtype)
        if self.bias_correction:
            step = tf.cast(self.iterations + 1, dtype)
            beta_1_power, beta_2_power = tf.pow(self.beta_1, step), tf.pow(self.beta_2, step)
            epsilon = epsilon * tf.sqrt(1.0 - beta_2_power)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._m[index].handle, v=self._v[index].handle, beta1_power=beta_1_power,
            beta2_power=beta_2_power, lr=learning_rate, beta1=tf.constant(self.beta_1, dtype),
            beta2=tf.constant(self.beta_2, dtype), epsilon=epsilon, grad=gradient)

    def get_config(self):
        config = super().get_config()
        config.update(weight_decay_rate=self.weight_decay_rate, beta_1=self.beta_1, beta_2=self.beta_2,
                      epsilon=self.epsilon, clip_norm=self.clip_norm, lr_multipliers=self.lr_multipliers,
                      bias_correction=self.bias_correction)
        return config


class LossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """Keras' dynamic loss scaling (an overflowing step halves the scale and is not applied; 2000 finite steps
    double it) in which a skipped step still counts as a step: `iterations` advances, so the schedule, the data
    position and the keyed randomness stay functions of the step (exact resume), and `skipped_steps` counts it.
    Both, and the scale, are variables of the optimizer, saved in its checkpoint."""

    def build(self, var_list):
        super().build(var_list)
        self.skipped_steps = self.add_variable(shape=(), dtype="int", initializer="zeros", aggregation="none",
                                               name="skipped_steps")

    def _stateful_handle_non_finite_grads(self):
        super()._stateful_handle_non_finite_grads()
        self.skipped_steps.assign_add(1)
        self.inner_optimizer.iterations.assign_add(1)


def skipped_steps(optimizer):
    """How many steps `optimizer` skipped for overflowing gradients (0 without loss scaling)."""
    return int(optimizer.skipped_steps.numpy()) if isinstance(optimizer, LossScaleOptimizer) else 0


def layerwise_lr_multipliers(num_layers, decay):
    """Variable-path regex → lr factor decay^(n+2−depth), the original's depths: 0 for the embeddings,
    i+1 for encoder layer i; task heads (depth n+2) keep factor 1."""
    if decay == 1.0:
        return {}
    multipliers = {r"(^|/)embeddings(/|$)|embeddings_project": decay ** (num_layers + 2)}
    for index in range(num_layers):
        multipliers[rf"(^|/)layer_{index}(/|$)"] = decay ** (num_layers + 1 - index)
    return multipliers


def create_optimizer(learning_rate, train_steps, warmup_steps=0, weight_decay_rate=0.01, epsilon=1e-6,
                     lr_decay_power=1.0, clip_norm=1.0, layerwise_lr_decay=1.0, num_layers=0,
                     loss_scale=False, bias_correction=False):
    """The optimizer for pre-training or fine-tuning; `loss_scale` wraps it for mixed_float16."""
    schedule = WarmupPolynomialDecay(learning_rate, train_steps, warmup_steps, lr_decay_power)
    optimizer = ElectraAdamW(
        schedule, weight_decay_rate=weight_decay_rate, epsilon=epsilon, clip_norm=clip_norm,
        lr_multipliers=layerwise_lr_multipliers(num_layers, layerwise_lr_decay), bias_correction=bias_correction)
    return LossScaleOptimizer(optimizer) if loss_scale else optimizer
