"""Pre-training's learning-health metrics (`pretraining/health.py`): each against NumPy/scikit-learn on a small known
batch, the unigram-fill AUC of a discriminator that reads its context (near 1) and of a constant one (0.5), the
unigram entropy the corpus builder records, the plain-words line and the one plateau warning."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from electra_tf.data.pretraining_dataset import parse_examples
from electra_tf.pretraining import health
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.pretraining.metrics import AUC_BINS, unigram_from_counts
from electra_tf.pretraining.model import ElectraPretrainer
from electra_tf.tokenization import load_vocab, special_token_ids

MASK_ID = 4
SPECIAL_IDS = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": MASK_ID}


def _known_batch(seed=0, rows=3, length=10, predictions=4, vocab=12):
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(5, vocab, (rows, length))
    input_ids[:, 0], input_ids[:, -1] = 2, 3
    positions = np.stack([rng.choice(np.arange(1, length - 1), predictions, replace=False) for _ in range(rows)])
    weights = np.ones((rows, predictions), np.float32)
    weights[0, -1] = 0.0  # a padding prediction slot
    masked_ids = input_ids.copy()
    at_mask = rng.random((rows, predictions)) < 0.6
    at_mask[:, 0], at_mask[:, 1] = True, False  # both kinds in every row
    for row in range(rows):
        masked_ids[row, positions[row][at_mask[row] & (weights[row] > 0)]] = MASK_ID
    targets = np.take_along_axis(input_ids, positions, 1)
    mlm_logits = rng.normal(0, 2, (rows, predictions, vocab)).astype(np.float32)
    mlm_logits[0, 0, targets[0, 0]] += 10  # one sure correct prediction
    log_probs = mlm_logits - np.log(np.exp(mlm_logits).sum(-1, keepdims=True))
    mlm_losses = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
    fake_ids = input_ids.copy()
    fake_ids[:, 3] = (fake_ids[:, 3] + 1 - 5) % (vocab - 5) + 5  # replaced tokens
    labels = (fake_ids != input_ids).astype(np.float32)
    disc_logits = rng.normal(0, 3, (rows, length)).astype(np.float32)
    ordinary = np.ones((rows, length), np.float32)
    ordinary[:, 0] = ordinary[:, -1] = 0.0
    ordinary[2, 6:] = 0.0  # padding
    return dict(input_ids=input_ids, positions=positions, weights=weights, masked_ids=masked_ids, targets=targets,
                mlm_logits=mlm_logits, mlm_losses=mlm_losses, labels=labels, disc_logits=disc_logits,
                ordinary=ordinary, at_mask=at_mask & (weights > 0))


def _statistics(batch, unigram=None):
    masked = {name: tf.constant(batch[name]) for name in ("masked_ids", "positions", "targets", "weights")}
    sums = health.health_statistics(masked, tf.constant(batch["mlm_losses"]), tf.constant(batch["mlm_logits"]),
                                    MASK_ID, tf.constant(batch["input_ids"]), tf.constant(batch["ordinary"]),
                                    tf.constant(batch["disc_logits"]), tf.constant(batch["labels"]), unigram)
    return {key: value.numpy() for key, value in sums.items()}


def _binned_auc(logits, labels, where):
    """scikit-learn's AUC of the scores as the histograms see them (sigmoid binned into AUC_BINS; ties count half)."""
    binned = np.clip(np.floor(1 / (1 + np.exp(-logits.astype(np.float64))) * AUC_BINS), 0, AUC_BINS - 1)
    return roc_auc_score(labels[where], binned[where])


def test_each_health_metric_equals_a_numpy_computation_on_a_known_batch():
    batch = _known_batch()
    metrics = health.health_from_sums(_statistics(batch), unigram_entropy=2.5)
    at_mask = batch["at_mask"]
    kept = (batch["weights"] > 0) & ~at_mask
    correct = batch["mlm_logits"].argmax(-1) == batch["targets"]
    assert at_mask.sum() >= 3 and kept.sum() >= 3 and correct[at_mask].any()
    expected = {"mask_lm_loss": batch["mlm_losses"][at_mask].mean(), "mask_lm_accuracy": correct[at_mask].mean(),
                "kept_lm_loss": batch["mlm_losses"][kept].mean(), "kept_lm_accuracy": correct[kept].mean(),
                "disc_auc_generator_fill": _binned_auc(batch["disc_logits"], batch["labels"], batch["ordinary"] > 0),
                "unigram_entropy": 2.5, "mask_loss_gap": 2.5 - batch["mlm_losses"][at_mask].mean()}
    assert set(metrics) == set(expected)
    for name, value in expected.items():
        assert abs(metrics[name] - value) < 1e-5, name


ORDINARY = 35  # ids 5..39: each row counts up through them (modulo), so every token follows from its neighbours


def _context_discriminator(ids):
    """Scores a token replaced exactly when neither neighbour predicts it (it copies its context)."""
    successor, predecessor = (5 + (ids - 5 + shift) % ORDINARY for shift in (1, -1))
    follows_left = tf.equal(ids[:, 1:], successor[:, :-1])
    precedes_right = tf.equal(ids[:, :-1], predecessor[:, 1:])
    no = tf.zeros_like(follows_left[:, :1])
    consistent = tf.concat([no, follows_left], 1) | tf.concat([precedes_right, no], 1)
    return tf.where(consistent, -5.0, 5.0)


@pytest.mark.parametrize("discriminator, expected, tolerance", [
    (_context_discriminator, 1.0, 0.03),
    (lambda ids: tf.zeros(ids.shape), 0.5, 1e-9),
])
def test_unigram_fill_auc_is_near_1_for_a_discriminator_reading_context_and_half_for_a_constant(
        discriminator, expected, tolerance):
    rng = np.random.default_rng(3)
    vocab, rows, length, predictions = 5 + ORDINARY, 8, 32, 5
    input_ids = 5 + (rng.integers(0, ORDINARY, (rows, 1)) + np.arange(length)) % ORDINARY
    positions = np.stack([rng.choice(length, predictions, replace=False) for _ in range(rows)])
    batch = _known_batch()
    batch.update(input_ids=input_ids, masked_ids=input_ids.copy(), positions=positions,
                 targets=np.take_along_axis(input_ids, positions, 1), weights=np.ones((rows, predictions), np.float32),
                 mlm_losses=np.ones((rows, predictions), np.float32),
                 mlm_logits=np.zeros((rows, predictions, vocab), np.float32), labels=np.zeros((rows, length), np.float32),
                 disc_logits=np.zeros((rows, length), np.float32), ordinary=np.ones((rows, length), np.float32))
    counts = np.bincount(input_ids.ravel(), minlength=vocab)
    logits = tf.constant(health.unigram_logits(unigram_from_counts(counts, SPECIAL_IDS)))
    seeds = tf.stack([tf.fill([rows], tf.constant(7, tf.int64)), tf.range(rows, dtype=tf.int64)], 1)
    metrics = health.health_from_sums(_statistics(batch, (discriminator, logits, seeds, rows)))
    assert abs(metrics["disc_auc_unigram_fill"] - expected) <= tolerance


def test_unigram_fills_follow_the_distribution_and_are_keyed_by_example():
    unigram = np.array([0, 0, 0, 0, 0, 0.5, 0.3, 0.2, 0.0])
    logits = tf.constant(health.unigram_logits(unigram))
    rows, predictions = 64, 50
    seeds = tf.stack([tf.fill([rows], tf.constant(1, tf.int64)), tf.range(rows, dtype=tf.int64)], 1)
    fills = health.unigram_fills(logits, seeds, tf.zeros([rows, predictions], tf.int32)).numpy()
    frequencies = np.bincount(fills.ravel(), minlength=len(unigram)) / fills.size
    assert np.abs(frequencies - unigram).max() < 0.03 and frequencies[unigram == 0].sum() == 0
    half = health.unigram_fills(logits, seeds[32:], tf.zeros([32, predictions], tf.int32)).numpy()
    np.testing.assert_array_equal(half, fills[32:])  # the same example gets the same fills in any batch split


def test_the_pretrainer_returns_the_health_sums_with_unigram_fills():
    config = PretrainingConfig(model_preset="tiny", max_seq_length=16, train_batch_size=4, health_rows=3)
    pretrainer = ElectraPretrainer(config, config.discriminator_config(vocab_size=60), SPECIAL_IDS)
    rng = np.random.default_rng(4)
    ids = rng.integers(5, 60, (4, 16)).astype(np.int32)
    ids[:, 0], ids[:, -1] = 2, 3
    batch = {"input_ids": tf.constant(ids), "input_mask": tf.ones_like(ids), "segment_ids": tf.zeros_like(ids)}
    seeds = tf.stack([tf.zeros([4], tf.int64), tf.range(4, dtype=tf.int64)], 1)
    masked = pretrainer.mask(batch, seeds)
    unigram = np.full(60, 1 / 55.0)
    unigram[:5] = 0
    outputs = pretrainer(batch, masked, seeds, training=False, unigram_logits=tf.constant(health.unigram_logits(unigram)))
    outputs = {key: value.numpy() for key, value in outputs.items()}
    assert outputs["mask_weight"] + outputs["kept_weight"] == outputs["mlm_weight"] == masked["weights"].numpy().sum()
    positions = masked["positions"].numpy()
    expected_mask = (np.take_along_axis(masked["masked_ids"].numpy(), positions, 1) == MASK_ID).sum()
    assert outputs["mask_weight"] == expected_mask
    assert outputs["generator_fill_positive"].sum() + outputs["generator_fill_negative"].sum() == 4 * 14
    assert outputs["unigram_fill_positive"].sum() + outputs["unigram_fill_negative"].sum() == 3 * 14
    assert outputs["unigram_fill_positive"].sum() >= 1  # unigram draws replace most masked tokens


def test_the_unigram_entropy_in_stats_json_is_a_count_over_the_records(pretraining_shards):
    stats = json.load(open(os.path.join(pretraining_shards, "stats.json")))
    files = sorted(tf.io.gfile.glob(os.path.join(pretraining_shards, "*.tfrecord*")))
    counts = np.zeros(stats["vocab_size"], np.int64)
    for batch in tf.data.TFRecordDataset(files).batch(256).map(lambda records: parse_examples(records, 64)):
        ids, mask = batch["input_ids"].numpy(), batch["input_mask"].numpy()
        counts += np.bincount(ids[mask == 1], minlength=len(counts))
    np.testing.assert_array_equal(stats["token_counts"], counts)
    special = special_token_ids(load_vocab(os.path.join(pretraining_shards, "vocab.txt")))
    maskable = np.delete(counts, [special["cls"], special["sep"], special["mask"], special["pad"]]).astype(float)
    probabilities = maskable[maskable > 0] / maskable.sum()
    assert abs(stats["unigram_entropy"] - float(-(probabilities * np.log(probabilities)).sum())) < 1e-9
    assert 1.0 < stats["unigram_entropy"] < np.log(len(counts))


def test_the_line_says_where_the_run_stands():
    stuck = {"mask_lm_loss": 6.15, "unigram_entropy": 6.2, "mask_loss_gap": 0.05, "disc_auc_unigram_fill": 0.52,
             "disc_auc_generator_fill": 0.61}
    line = health.describe(stuck)
    assert "no context learned yet: [MASK] loss 0.05 nats under the unigram entropy 6.20" in line
    assert "token identity only: AUC 0.52 on unigram fills" in line
    learned = dict(stuck, mask_lm_loss=4.2, mask_loss_gap=2.0, disc_auc_unigram_fill=0.8)
    assert "generator uses context" in health.describe(learned)
    assert "discriminator uses context" in health.describe(learned)
    assert "no token_counts" in health.describe({"mask_lm_loss": 6.0, "disc_auc_generator_fill": 0.6})


def test_the_plateau_warning_comes_once_after_the_fraction_naming_the_knobs():
    stuck = {"mask_loss_gap": 0.02, "disc_auc_unigram_fill": 0.51}
    watch = health.PlateauWatch(train_steps=1000, fraction=0.2)
    assert watch.check(100, stuck) is None  # too early
    assert watch.check(200, dict(stuck, mask_loss_gap=0.5)) is None  # the generator left the plateau
    message = watch.check(300, stuck)
    assert "step 300 of 1000" in message and "learning_rate" in message and "mask_prob" in message
    assert watch.check(400, stuck) is None  # once
    assert health.PlateauWatch(1000, 0.0).check(999, stuck) is None  # off
