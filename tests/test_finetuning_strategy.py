"""The fine-tuning loops under the CLI's default strategy (`one_device` on the CPU): plain tf.data input (no
distributed iterator, whose teardown cost seconds to tens of seconds per epoch), the same results as TF's default
strategy."""

import os

import numpy as np
import pytest
import tensorflow as tf
from test_finetuning_shapes import NO_DROPOUT, _hparams, _task, _write_rows

from electra_tf.finetuning.run import build_tuner, featurize_splits, read_splits
from electra_tf.tokenization import FastTokenizer


def _epoch_and_predictions(init_checkpoint, strategy, data_dir):
    task, hparams = _task(), _hparams(**NO_DROPOUT)
    splits = read_splits(task, data_dir)
    tokenizer = FastTokenizer.from_vocab_file(os.path.join(init_checkpoint, "vocab.txt"))
    features, _ = featurize_splits(task, splits, tokenizer, hparams)
    tf.keras.utils.set_random_seed(hparams.seed)
    tuner = build_tuner(task, hparams, init_checkpoint, len(features["train"]), strategy, False)
    batches = tuner.train_dataset(features["train"], 1)
    iterators = list(batches.iterators.values())
    losses = [tuner.train(batches, 1) for _ in range(tuner.train_steps)]
    return iterators, losses, tuner.predict(features["test"])["logits"]


@pytest.mark.slow
def test_one_device_cpu_strategy_feeds_plain_datasets_with_the_default_strategy_results(tmp_path, init_checkpoint):
    data_dir = _write_rows(tmp_path, count=100)
    iterators, losses, logits = _epoch_and_predictions(init_checkpoint, tf.distribute.OneDeviceStrategy("/cpu:0"), data_dir)
    assert iterators and all(isinstance(iterator, tf.data.Iterator) for iterator in iterators)  # not distributed
    _, reference_losses, reference_logits = _epoch_and_predictions(init_checkpoint, tf.distribute.get_strategy(), data_dir)
    assert len(losses) == 4
    np.testing.assert_allclose(losses, reference_losses, rtol=1e-5)
    assert logits.shape[0] == 100
    np.testing.assert_allclose(logits, reference_logits, rtol=1e-4, atol=1e-5)

