"""`adam_bias_correction` reaches the pre-training optimizer: the first update of every weight is Adam's
bias-corrected step (≈ lr · sign(g)) with it, and the original's uncorrected one without it
(≈ lr · 0.1 / sqrt(0.001) · sign(g), 3.16× larger)."""

import os

import numpy as np
import pytest
import tensorflow as tf

from electra_tf.pretraining import loop
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.tokenization import load_vocab, special_token_ids

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
TINY = os.path.join(ROOT, "configs", "pretrain", "tiny.json")
LR, BETA_1, BETA_2 = 1e-3, 0.9, 0.999


def _first_update(model_dir, bias_correction):
    """(weights before, gradients, weights after) of one optimizer step of a tiny run with a constant lr."""
    config = PretrainingConfig.from_json_file(TINY, {
        "adam_bias_correction": bias_correction, "learning_rate": LR, "warmup_steps": 0, "lr_decay_power": 0.0,
        "weight_decay_rate": 0.0, "clip_norm": 0.0, "train_steps": 10})
    vocab = load_vocab(VOCAB)
    run = loop.PretrainingRun(config, config.discriminator_config(vocab_size=len(vocab)), special_token_ids(vocab),
                              model_dir, tf.distribute.get_strategy())
    variables = run.pretrainer.trainable_weights
    rng = np.random.default_rng(0)
    gradients = [rng.normal(scale=0.05, size=variable.shape).astype("float32") for variable in variables]
    before = [variable.numpy().copy() for variable in variables]
    run.optimizer.apply([tf.constant(gradient) for gradient in gradients], variables)
    return before, gradients, [variable.numpy() for variable in variables]


@pytest.mark.parametrize("bias_correction", [False, True])
def test_the_first_update_follows_adams_bias_correction(tmp_path, bias_correction):
    before, gradients, after = _first_update(str(tmp_path), bias_correction)
    epsilon = PretrainingConfig().adam_epsilon
    for old, gradient, new in zip(before, gradients, after):
        m, v = (1 - BETA_1) * gradient, (1 - BETA_2) * gradient ** 2
        if bias_correction:
            m, v = m / (1 - BETA_1), v / (1 - BETA_2)
        np.testing.assert_allclose(old - new, LR * m / (np.sqrt(v) + epsilon), rtol=2e-3, atol=1e-7)


def test_the_default_is_the_originals_optimizer():
    assert PretrainingConfig().adam_bias_correction is False
