"""`ElectraPretrainer`: generator + discriminator with shared embeddings and the replaced-token-detection loss.

`mask` draws the masked inputs; `call` computes the generator's MLM loss on the masked positions, samples
replacements, and the discriminator's loss over all non-padding tokens (google-research/electra
`run_pretraining.py`). Losses are normalized by *global* counts (summed over replicas in `mask`), so the
per-replica losses add up exactly to the single-device loss of the whole batch. `call` has no cross-replica
communication, so it can be compiled with XLA.
"""

import keras
import tensorflow as tf

from electra_tf import dropout
from electra_tf.models import ElectraForMaskedLM, ElectraForPreTraining
from electra_tf.pretraining import health, masking, metrics


def _global_sum(value):
    """Sum over replicas (identity without a strategy)."""
    context = tf.distribute.get_replica_context()
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value) if context else value


class ElectraPretrainer(keras.Model):
    """Holds `generator` (ElectraForMaskedLM) and `discriminator` (ElectraForPreTraining)."""

    def __init__(self, config, discriminator_config, special_ids, **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False  # keep float32 weights and counts under mixed precision
        self.config = config
        self.special_ids = special_ids  # `tokenization.special_token_ids`: {"pad", "cls", "sep", "mask", ...} → id
        self.discriminator = ElectraForPreTraining(discriminator_config, dtype=self.dtype_policy,
                                                   name="discriminator").build_now()
        shared = None if config.untied_generator_embeddings else self.discriminator.electra.embeddings
        self.generator = ElectraForMaskedLM(config.generator_config(discriminator_config), embeddings=shared,
                                            dtype=self.dtype_policy, name="generator").build_now()
        dropout.number_layers(self)
        self.built = True

    def mask(self, batch, seeds):
        """Masks the batch (see `masking.mask_inputs`) and counts, over all replicas, predictions and tokens."""
        ids = self.special_ids
        masked_ids, positions, targets, weights = masking.mask_inputs(
            batch["input_ids"], batch["input_mask"], seeds, [ids["cls"], ids["sep"], ids["mask"]], ids["mask"],
            self.config.mask_prob, self.config.max_predictions_per_seq, self.config.mask_token_prob)
        return {"masked_ids": masked_ids, "positions": positions, "targets": targets, "weights": weights,
                "total_weight": _global_sum(tf.reduce_sum(weights)),
                "total_tokens": _global_sum(tf.reduce_sum(tf.cast(batch["input_mask"], tf.float32)))}

    def call(self, batch, masked, seeds, training=True, unigram_logits=None, fill_rows=None):
        """Returns a dict: `loss` (this replica's share of the global loss) and summed statistics, the learning-health
        ones (`health.health_statistics`) included; with `unigram_logits` ([V], `health.unigram_logits`) the first
        `fill_rows` rows (default `config.health_rows`) are also scored on unigram fills (one more discriminator
        forward, no dropout)."""
        config = self.config
        input_ids, input_mask, segment_ids = batch["input_ids"], batch["input_mask"], batch["segment_ids"]
        masked_ids, positions = masked["masked_ids"], masked["positions"]
        targets, weights = masked["targets"], masked["weights"]

        # Dropout masks are keyed by (seed, example, layer, network), like masking and sampling.
        # Generator: MLM on the masked positions only.
        with dropout.keyed_by_example(seeds[0, 0], seeds[0, 1], call=0):
            hidden = self.generator.electra(
                {"input_ids": masked_ids, "attention_mask": input_mask, "token_type_ids": segment_ids},
                training=training, output_positions=positions)
        mlm_logits = tf.cast(self.generator.head(hidden), tf.float32)
        mlm_losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=mlm_logits)
        mlm_loss = tf.reduce_sum(mlm_losses * weights) / (masked["total_weight"] + 1e-6)

        # Replacements sampled from the generator, then the discriminator tells them apart.
        sampled = masking.sample_replacements(mlm_logits, seeds, targets, config.temperature,
                                              config.disallow_correct)
        fake_ids = masking.replace_tokens(masked_ids, positions, sampled, weights)
        labels = tf.cast(tf.not_equal(fake_ids, input_ids), tf.float32)
        with dropout.keyed_by_example(seeds[0, 0], seeds[0, 1], call=1):
            disc_logits = tf.cast(self.discriminator(
                {"input_ids": fake_ids, "attention_mask": input_mask, "token_type_ids": segment_ids},
                training=training)["logits"], tf.float32)
        token_weights = tf.cast(input_mask, tf.float32)
        disc_losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=disc_logits)
        disc_loss = tf.reduce_sum(disc_losses * token_weights) / masked["total_tokens"]

        loss = config.gen_weight * mlm_loss + config.disc_weight * disc_loss
        ordinary = token_weights * tf.cast(tf.not_equal(input_ids, self.special_ids["cls"]) &
                                           tf.not_equal(input_ids, self.special_ids["sep"]), tf.float32)
        unigram = None
        rows = min(config.health_rows if fill_rows is None else fill_rows, input_ids.shape[0])
        if unigram_logits is not None and rows:
            def discriminate(ids):
                return self.discriminator({"input_ids": ids, "attention_mask": input_mask[:rows],
                                           "token_type_ids": segment_ids[:rows]}, training=False)["logits"]
            unigram = (discriminate, unigram_logits, seeds, rows)
        return {"loss": loss,
                **metrics.window_statistics(mlm_losses, mlm_logits, sampled, targets, weights, disc_losses,
                                            disc_logits, labels, token_weights),
                **health.health_statistics(masked, mlm_losses, mlm_logits, self.special_ids["mask"], input_ids,
                                           ordinary, disc_logits, labels, unigram)}
