"""ElectraAdamW and the schedule against a NumPy transcription of the original's update rule."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from electra_tf.optimization import WarmupPolynomialDecay, create_optimizer, layerwise_lr_multipliers


def test_schedule_overlaps_warmup_and_decay_like_the_original():
    schedule = WarmupPolynomialDecay(1e-3, train_steps=100, warmup_steps=10, power=1.0)
    values = [float(schedule(step)) for step in (0, 5, 10, 50, 100, 150)]
    expected = [0.0, 1e-3 * 0.95 * 0.5, 1e-3 * 0.9, 1e-3 * 0.5, 0.0, 0.0]
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-12)


def _reference_adamw(params, grads_per_step, lrs, decay_mask, clip=1.0, wd=0.01, b1=0.9, b2=0.999, eps=1e-6):
    """google-research/electra AdamWeightDecayOptimizer: no bias correction, decoupled decay."""
    params = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for grads, lr in zip(grads_per_step, lrs):
        norm = np.sqrt(sum(float((g ** 2).sum()) for g in grads))
        grads = [g * clip / max(norm, clip) for g in grads]
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            update = m[i] / (np.sqrt(v[i]) + eps) + (wd * params[i] if decay_mask[i] else 0.0)
            params[i] = params[i] - lr * update
    return params


def test_update_rule_matches_the_original_including_clipping_and_decay_exclusion():
    rng = np.random.default_rng(0)
    shapes = {"encoder/layer_0/dense/kernel": (4, 3), "encoder/layer_0/dense/bias": (3,),
              "encoder/LayerNorm/gamma": (3,)}
    initial = [rng.normal(size=shape).astype("float32") for shape in shapes.values()]
    variables = [keras.Variable(value, name=name.rsplit("/", 1)[1]) for name, value in zip(shapes, initial)]
    optimizer = create_optimizer(1e-2, train_steps=10, warmup_steps=2)
    steps = [[rng.normal(size=shape).astype("float32") * 3 for shape in shapes.values()] for _ in range(4)]
    lrs = [float(WarmupPolynomialDecay(1e-2, 10, 2)(step)) for step in range(4)]
    for grads in steps:
        optimizer.apply([tf.constant(g) for g in grads], variables)
    expected = _reference_adamw(initial, steps, lrs, decay_mask=[True, False, False])
    for variable, value in zip(variables, expected):
        np.testing.assert_allclose(variable.numpy(), value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("decay", [0.8])
def test_layerwise_multipliers_follow_the_original_depths(decay):
    multipliers = layerwise_lr_multipliers(num_layers=2, decay=decay)

    def factor(path):
        return next((value for pattern, value in multipliers.items() if re.search(pattern, path)), 1.0)

    assert factor("model/electra/embeddings/word_embeddings") == pytest.approx(decay ** 4)
    assert factor("model/electra/embeddings_project/kernel") == pytest.approx(decay ** 4)
    assert factor("model/electra/layer_0/self_attention_layer/query/kernel") == pytest.approx(decay ** 3)
    assert factor("model/electra/layer_1/feedforward_output_dense/kernel") == pytest.approx(decay ** 2)
    assert factor("model/classifier/out_proj/kernel") == 1.0
    assert layerwise_lr_multipliers(2, 1.0) == {}


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_bias_correction_matches_pytorch_adamw(weight_decay):
    torch = pytest.importorskip("torch", reason="compares with torch.optim.AdamW")
    rng = np.random.default_rng(1)
    initial = rng.normal(size=(5, 3)).astype("float32")
    grads = [rng.normal(size=(5, 3)).astype("float32") * 0.1 for _ in range(5)]
    variable = keras.Variable(initial, name="kernel")
    ours = create_optimizer(1e-2, train_steps=1000, weight_decay_rate=weight_decay, epsilon=1e-8, lr_decay_power=0.0,
                            clip_norm=0.0, bias_correction=True)
    parameter = torch.nn.Parameter(torch.tensor(initial))
    theirs = torch.optim.AdamW([parameter], lr=1e-2, eps=1e-8, weight_decay=weight_decay)
    for grad in grads:
        ours.apply([tf.constant(grad)], [variable])
        parameter.grad = torch.tensor(grad)
        theirs.step()
    np.testing.assert_allclose(variable.numpy(), parameter.detach().numpy(), rtol=1e-5, atol=1e-6)
