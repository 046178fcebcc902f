"""Gradient accumulation: k micro-batches of B/k rows make the optimizer step of one batch of B (the weights after
a few optimizer steps equal those of k = 1), in pre-training and fine-tuning (keyed dropout on)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_finetuning_shapes import _hparams, _task, _train_one_epoch, _tuner, _write_rows
from test_pretraining_model import CLS, MASK, PAD, SEP, _packed_batch

from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.pretraining.loop import PretrainingRun
from electra_tf.training_step import micro_batches


DROPOUT = {"hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "classifier_dropout": 0.1}


def _largest_difference(first, second):
    return max(float(np.abs(a - b).max()) for a, b in zip(first, second))


def _pretrained_weights(model_dir, accumulation_steps, steps=2):
    config = PretrainingConfig(model_preset="tiny", model_overrides={"vocab_size": 500, "num_hidden_layers": 1},
                               max_seq_length=32, train_batch_size=8, warmup_steps=0, learning_rate=1e-3,
                               gradient_accumulation_steps=accumulation_steps)
    keras.utils.set_random_seed(0)  # the same initial weights
    run = PretrainingRun(config, config.discriminator_config(), {"pad": PAD, "cls": CLS, "sep": SEP, "mask": MASK},
                         str(model_dir), tf.distribute.get_strategy(), jit_compile=True)
    iterator = iter(tf.data.Dataset.from_tensors(_packed_batch(rows=8, length=32)).repeat())
    sums = run.train_steps(iterator, steps)
    assert run.step == steps  # the optimizer counts optimizer steps, not micro-batches
    return [variable.numpy() for variable in run.pretrainer.weights], sums


def test_pretraining_with_four_micro_batches_ends_at_the_weights_of_one_batch(tmp_path):
    whole, whole_sums = _pretrained_weights(tmp_path / "whole", 1)
    accumulated, accumulated_sums = _pretrained_weights(tmp_path / "accumulated", 4)
    assert _largest_difference(whole, accumulated) <= 1e-5
    for key in ("mlm_weight", "tokens", "positives"):  # the statistics count every micro-batch's rows once
        assert accumulated_sums[key] == whole_sums[key]
    assert abs(accumulated_sums["mlm_loss_sum"] - whole_sums["mlm_loss_sum"]) < 1e-3


def test_finetuning_with_four_micro_batches_ends_at_the_weights_of_one_batch(tmp_path, init_checkpoint):
    data_dir = _write_rows(tmp_path, 37)  # 4 batches of 8 and a partial one of 5 (filled up for accumulation)
    weights = {}
    for steps in (1, 4):
        hparams = _hparams(train_batch_size=8, steps_per_execution=2, gradient_accumulation_steps=steps,
                           **DROPOUT)  # keyed by example: each row gets the same masks in either split
        tuner, features = _tuner(init_checkpoint, _task(), hparams, data_dir, jit_compile=False)
        _train_one_epoch(tuner, features)
        assert tuner.step == 5
        weights[steps] = tuner.get_weights()
    assert _largest_difference(weights[1], weights[4]) <= 1e-5


def test_micro_batches_keep_rows_in_order_and_share_the_normalisers():
    rows = tf.reshape(tf.range(24), [8, 3])
    split = micro_batches(rows, 4)
    assert split.shape == (4, 2, 3)
    np.testing.assert_array_equal(split[1].numpy(), rows[2:4].numpy())
    assert micro_batches(tf.constant(5.0), 4).shape == ()
    with pytest.raises(ValueError, match="gradient_accumulation_steps 3 does not divide the 8 rows"):
        micro_batches(rows, 3)


@pytest.mark.parametrize("values, problem", [({"gradient_accumulation_steps": 0}, "must be an integer >= 1"),
                                             ({"gradient_accumulation_steps": 3}, "must divide train_batch_size")])
def test_accumulation_steps_are_checked(values, problem):
    with pytest.raises(ValueError, match=f"gradient_accumulation_steps.*{problem}"):
        _hparams(train_batch_size=8, **values)
    with pytest.raises(ValueError, match=f"gradient_accumulation_steps.*{problem}"):
        PretrainingConfig(train_batch_size=8, **values)
