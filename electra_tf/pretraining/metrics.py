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
    probabilities = tf.sigmoid(disc_logits)
    bins = tf.clip_by_value(tf.cast(probabilities * AUC_BINS, tf.int32), 0, AUC_BINS - 1)
    histogram = lambda w: tf.math.unsorted_segment_sum(  # noqa: E731  (XLA-friendly bincount)
        tf.reshape(w, [-1]), tf.reshape(bins, [-1]), AUC_BINS)
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
        "positive_histogram": histogram(positives),
        "negative_histogram": histogram(token_weights - positives),
    }


def metrics_from_sums(sums, gen_weight, disc_weight):
    """The original's logged metrics from summed statistics (numpy values)."""
    mlm_loss = sums["mlm_loss_sum"] / max(sums["mlm_weight"], 1e-6)
    disc_loss = sums["disc_loss_sum"] / max(sums["tokens"], 1.0)
    positive, negative = sums["positive_histogram"], sums["negative_histogram"]
    # AUC: probability that a random replaced token scores above a random original one (ties count half).
    negatives_below = np.cumsum(negative) - negative
    auc_pairs = float(np.sum(positive * (negatives_below + 0.5 * negative)))
    total_pairs = float(positive.sum() * negative.sum())
    return {
        "loss": gen_weight * mlm_loss + disc_weight * disc_loss,
        "masked_lm_loss": mlm_loss,
        "masked_lm_accuracy": sums["mlm_correct"] / max(sums["mlm_weight"], 1e-6),
        "sampled_masked_lm_accuracy": sums["sampled_correct"] / max(sums["mlm_weight"], 1e-6),
        "disc_loss": disc_loss,
        "disc_accuracy": sums["disc_correct"] / max(sums["tokens"], 1.0),
        "disc_precision": sums["true_positives"] / max(sums["predicted_positives"], 1.0),
        "disc_recall": sums["true_positives"] / max(sums["positives"], 1.0),
        "disc_auc": auc_pairs / total_pairs if total_pairs else float("nan"),
    }
