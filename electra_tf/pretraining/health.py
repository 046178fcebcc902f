"""Learning-health metrics of pre-training: does the run learn context, or only token identity?

A generator that has learned no context predicts the unigram distribution, so its loss at [MASK] positions sits
at the shards' unigram entropy (`stats.json`'s `unigram_entropy`); the positions that keep their token are
copied and are reported apart. A discriminator that has learned token identity only scores an AUC of 0.5 on
the same positions filled with unigram draws (the same marginal as the data, no context), whatever its AUC on
its generator's samples. `health_statistics` gives per-step sums (they add over replicas and steps, like
`metrics.window_statistics`), `health_from_sums` the metrics of a window, `describe` a line in plain words and
`PlateauWatch` the one warning when a run stays on the plateau.
"""

import numpy as np
import tensorflow as tf
from absl import logging

from electra_tf.pretraining import masking
from electra_tf.pretraining.metrics import auc_histograms, histogram_auc

UNIGRAM_SALT = 2  # the noise stream of the unigram fills (masking uses 0, the generator's samples 1)
CONTEXT_GAP_NATS = 0.1  # a [MASK] loss this far under the unigram entropy: the generator uses context
CONTEXT_AUC = 0.55  # a unigram-fill AUC this high: the discriminator uses context
KNOBS = ("learning_rate", "warmup_steps", "train_batch_size", "mask_prob", "generator_hidden_size", "disc_weight",
         "the corpus size (stats.json)")


def unigram_logits(unigram):
    """Log-probabilities [V] of a unigram distribution, float32, with -1e9 where it is zero (never drawn)."""
    unigram = np.asarray(unigram, np.float64)
    return np.where(unigram > 0, np.log(np.maximum(unigram, 1e-30)), -1e9).astype(np.float32)


def unigram_fills(logits, seeds, targets):
    """Tokens [B, P] drawn from the unigram distribution (`unigram_logits`), keyed by each example's seeds."""
    rows, predictions = targets.shape
    broadcast = tf.broadcast_to(logits[None, None, :], [rows, predictions, logits.shape[0]])
    return masking.sample_replacements(broadcast, seeds, targets, salt=UNIGRAM_SALT)


def health_statistics(masked, mlm_losses, mlm_logits, mask_id, input_ids, ordinary, disc_logits, labels,
                      unigram=None):
    """Sums of one step: the generator at [MASK] and at kept positions, and the discriminator's AUC histograms
    over the `ordinary` tokens (real, not [CLS]/[SEP]) for its generator's samples and, when `unigram` is given,
    for unigram fills.

    Args:
      masked: `ElectraPretrainer.mask`'s dict (masked_ids, positions, targets, weights).
      mlm_losses, mlm_logits: the generator's losses [B, P] and logits [B, P, V] at the positions.
      mask_id: the [MASK] id.
      input_ids: the original ids [B, L].
      ordinary: float [B, L], 1.0 at the real tokens other than [CLS]/[SEP].
      disc_logits, labels: the discriminator's logits [B, L] on its generator's samples and their labels.
      unigram: None, or `(discriminate, logits, seeds, rows)`: `discriminate(ids) → logits` (no dropout), the
        `unigram_logits` tensor, the examples' seeds, and how many rows (the first ones) get unigram fills.
    Returns:
      A dict of float32 sums (and [AUC_BINS] histograms).
    """
    weights, targets = masked["weights"], masked["targets"]
    at_mask = tf.cast(tf.equal(tf.gather(masked["masked_ids"], masked["positions"], batch_dims=1), mask_id),
                      tf.float32) * weights
    kept = weights - at_mask
    correct = tf.cast(tf.equal(tf.argmax(mlm_logits, -1, output_type=targets.dtype), targets), tf.float32)
    positive, negative = auc_histograms(disc_logits, labels, ordinary)
    sums = {"mask_loss_sum": tf.reduce_sum(mlm_losses * at_mask), "mask_weight": tf.reduce_sum(at_mask),
            "mask_correct": tf.reduce_sum(correct * at_mask), "kept_loss_sum": tf.reduce_sum(mlm_losses * kept),
            "kept_weight": tf.reduce_sum(kept), "kept_correct": tf.reduce_sum(correct * kept),
            "generator_fill_positive": positive, "generator_fill_negative": negative}
    if unigram is not None:
        discriminate, logits, seeds, rows = unigram
        head = slice(0, rows)
        fills = unigram_fills(logits, seeds[head], targets[head])
        fake_ids = masking.replace_tokens(masked["masked_ids"][head], masked["positions"][head], fills,
                                          weights[head])
        fill_labels = tf.cast(tf.not_equal(fake_ids, input_ids[head]), tf.float32)
        fill_logits = tf.stop_gradient(tf.cast(discriminate(fake_ids), tf.float32))
        positive, negative = auc_histograms(fill_logits, fill_labels, ordinary[head])
        sums.update(unigram_fill_positive=positive, unigram_fill_negative=negative)
    return sums


def health_from_sums(sums, unigram_entropy=None):
    """The health metrics of a window from summed `health_statistics` (numpy values); the entropy, its gap to the
    [MASK] loss and the unigram-fill AUC only when known."""
    mask_loss = float(sums["mask_loss_sum"] / max(sums["mask_weight"], 1e-6))
    metrics = {"mask_lm_loss": mask_loss,
               "mask_lm_accuracy": float(sums["mask_correct"] / max(sums["mask_weight"], 1e-6)),
               "kept_lm_loss": float(sums["kept_loss_sum"] / max(sums["kept_weight"], 1e-6)),
               "kept_lm_accuracy": float(sums["kept_correct"] / max(sums["kept_weight"], 1e-6)),
               "disc_auc_generator_fill": histogram_auc(sums["generator_fill_positive"],
                                                        sums["generator_fill_negative"])}
    if "unigram_fill_positive" in sums:
        metrics["disc_auc_unigram_fill"] = histogram_auc(sums["unigram_fill_positive"],
                                                         sums["unigram_fill_negative"])
    if unigram_entropy is not None:
        metrics["unigram_entropy"] = float(unigram_entropy)
        metrics["mask_loss_gap"] = float(unigram_entropy) - mask_loss
    return metrics


def context_learned(metrics):
    """Whether either network has left the unigram plateau (None when neither signal is known)."""
    signals = []
    if "mask_loss_gap" in metrics:
        signals.append(metrics["mask_loss_gap"] >= CONTEXT_GAP_NATS)
    if np.isfinite(metrics.get("disc_auc_unigram_fill", np.nan)):
        signals.append(metrics["disc_auc_unigram_fill"] >= CONTEXT_AUC)
    return any(signals) if signals else None


def describe(metrics):
    """Where the run stands, in plain words (one line)."""
    parts = []
    if "mask_loss_gap" in metrics:
        gap = metrics["mask_loss_gap"]
        state = "uses context" if gap >= CONTEXT_GAP_NATS else "no context learned yet"
        side = "under" if gap >= 0 else "over"
        parts.append(f"generator {state}: [MASK] loss {abs(gap):.2f} nats {side} the unigram entropy "
                     f"{metrics['unigram_entropy']:.2f}")
    else:
        parts.append(f"generator: [MASK] loss {metrics['mask_lm_loss']:.2f} nats (no unigram entropy: the shards' "
                     "stats.json has no token_counts)")
    auc = metrics.get("disc_auc_unigram_fill", np.nan)
    if np.isfinite(auc):
        state = "uses context" if auc >= CONTEXT_AUC else "token identity only"
        parts.append(f"discriminator {state}: AUC {auc:.2f} on unigram fills (0.5 = no context), "
                     f"{metrics['disc_auc_generator_fill']:.2f} on its generator's samples")
    else:
        parts.append(f"discriminator AUC {metrics['disc_auc_generator_fill']:.2f} on its generator's samples")
    return "health: " + "; ".join(parts)


class PlateauWatch:
    """Warns once (absl warning) when `fraction` of `train_steps` has passed and neither network has left the
    unigram plateau (`context_learned` False), naming the settings to check; `fraction` 0 is off. Once per run:
    `warned` (True when a resumed run had already warned, `PretrainingRun.plateau_warned`) silences it."""

    def __init__(self, train_steps, fraction, warned=False):
        self.due_step = fraction * train_steps if fraction else None
        self.train_steps = train_steps
        self.warned = bool(warned)

    def check(self, step, metrics):
        """Warns (once) when due; returns the warning or None."""
        if self.warned or self.due_step is None or step < self.due_step or context_learned(metrics) is not False:
            return None
        self.warned = True
        message = (f"{100.0 * step / self.train_steps:.0f}% of train_steps (step {step} of {self.train_steps}) "
                   f"passed and the run is still on the unigram plateau ([MASK] loss less than {CONTEXT_GAP_NATS} "
                   f"nats under the unigram entropy, unigram-fill AUC under {CONTEXT_AUC}): neither network uses "
                   f"context yet; check {', '.join(KNOBS)}")
        logging.warning(message)
        return message
