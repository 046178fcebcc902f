"""The logged pre-training metrics (google-research/electra `run_pretraining.py` `metric_fn`): per-step sums that
add over replicas and steps (`window_statistics`), and the metrics of a window of steps (`metrics_from_sums`).

TensorFlow and NumPy only (no Keras), so a benchmark of another implementation can log the same metrics.
"""

import numpy as np
import tensorflow as tf

AUC_BINS = 200


def window_statistics(mlm_losses, mlm_logits, sampled, targets, weights, disc_losses, disc_logits, labels,
                      token_weights):
    """Sums from which the logged metrics are computed after summing over replicas and steps."""
    predicted = tf.cast(disc_logits > 0, tf.float32) * token_weights
    positives = labels * token_weights
    positive_histogram, negative_histogram = auc_histograms(disc_logits, labels, token_weights)
    correct_mlm = tf.cast(tf.equal(tf.argmax(mlm_logits, -1, output_type=targets.dtype), targets), tf.float32)
    return {
        "mlm_loss_sum": tf.reduce_sum(mlm_losses * weights),
        "mlm_weight": tf.reduce_sum(weights),
        "mlm_correct": tf.reduce_sum(correct_mlm * weights),
        "sampled_correct": tf.reduce_sum(tf.cast(tf.equal(sampled, targets), tf.float32) * weights),
        "disc_loss_sum": tf.reduce_sum(disc_losses * token_weights),
        "tokens": tf.reduce_sum(token_weights),
        "disc_correct": tf.reduce_sum(tf.cast(tf.equal(predicted, positives), tf.float32) * token_weights),
        "true_positives": tf.reduce_sum(predicted * positives),
        "predicted_positives": tf.reduce_sum(predicted),
        "positives": tf.reduce_sum(positives),
        "positive_histogram": positive_histogram,
        "negative_histogram": negative_histogram,
    }


def auc_histograms(logits, labels, weights):
    """`(positive, negative)` histograms [AUC_BINS] of sigmoid(`logits`) over the `weights`-weighted tokens that
    are replaced (`labels` 1) and original (0); `histogram_auc` turns their sums into an AUC."""
    bins = tf.reshape(tf.clip_by_value(tf.cast(tf.sigmoid(logits) * AUC_BINS, tf.int32), 0, AUC_BINS - 1), [-1])
    positives = labels * weights
    def histogram(values):  # an XLA-friendly bincount
        return tf.math.unsorted_segment_sum(tf.reshape(values, [-1]), bins, AUC_BINS)

    return histogram(positives), histogram(weights - positives)


def histogram_auc(positive, negative):
    """P(a random replaced token scores above a random original one), ties (same bin) counted half; NaN when
    either histogram is empty."""
    negatives_below = np.cumsum(negative) - negative
    auc_pairs = float(np.sum(positive * (negatives_below + 0.5 * negative)))
    total_pairs = float(np.sum(positive) * np.sum(negative))
    return auc_pairs / total_pairs if total_pairs else float("nan")


def entropy(p):
    """Entropy of a distribution in nats."""
    p = np.asarray(p, np.float64)
    nonzero = p > 0
    return float(-np.sum(p[nonzero] * np.log(p[nonzero])))


def unigram_from_counts(token_counts, special_ids):
    """The unigram distribution of the tokens that can be masked: `token_counts` (per id) less [CLS], [SEP],
    [MASK] and [PAD] (`special_ids`: `tokenization.special_token_ids`), normalized."""
    counts = np.asarray(token_counts, np.float64).copy()
    counts[[special_ids[name] for name in ("cls", "sep", "mask", "pad")]] = 0.0
    return counts / max(counts.sum(), 1.0)


def metrics_from_sums(sums, gen_weight, disc_weight):
    """The original's logged metrics from summed statistics (numpy values)."""
    mlm_loss = sums["mlm_loss_sum"] / max(sums["mlm_weight"], 1e-6)
    disc_loss = sums["disc_loss_sum"] / max(sums["tokens"], 1.0)
    return {
        "loss": gen_weight * mlm_loss + disc_weight * disc_loss,
        "masked_lm_loss": mlm_loss,
        "masked_lm_accuracy": sums["mlm_correct"] / max(sums["mlm_weight"], 1e-6),
        "sampled_masked_lm_accuracy": sums["sampled_correct"] / max(sums["mlm_weight"], 1e-6),
        "disc_loss": disc_loss,
        "disc_accuracy": sums["disc_correct"] / max(sums["tokens"], 1.0),
        "disc_precision": sums["true_positives"] / max(sums["predicted_positives"], 1.0),
        "disc_recall": sums["true_positives"] / max(sums["positives"], 1.0),
        "disc_auc": histogram_auc(sums["positive_histogram"], sums["negative_histogram"]),
    }
