"""Dynamic masking and generator sampling, in the graph (google-research/electra `pretrain_helpers.py`).

Randomness is stateless and keyed per example by `(seed, example id)`, so the same example gets the same
masks and samples however the global batch is split over replicas, and a resumed run repeats exactly.
Deliberate deviation: positions are drawn *without* replacement (the original draws with replacement, so
duplicates make its effective rate ~13.8% instead of 15% at length 128).
"""

import tensorflow as tf


def example_seeds(seed, step, global_batch_size, first_row, rows):
    """Stateless seeds [rows, 2] for the examples `first_row .. first_row + rows` of global step `step`."""
    example_ids = tf.cast(step, tf.int64) * global_batch_size + first_row + tf.range(rows, dtype=tf.int64)
    return tf.stack([tf.fill([rows], tf.cast(seed, tf.int64)), example_ids], axis=1)


def _per_example_uniform(seeds, shape, salt):
    """Uniform [0, 1) noise [rows, *shape], one stateless stream per example (rows is static)."""
    salt = tf.constant([salt, 0], tf.int64)
    return tf.stack([tf.random.stateless_uniform(shape, seeds[row] + salt) for row in range(seeds.shape[0])])


def mask_inputs(input_ids, input_mask, seeds, special_ids, mask_id, mask_prob, max_predictions,
                mask_token_prob=0.85):
    """Chooses positions to predict and masks them.

    Returns `(masked_ids, positions, target_ids, weights)`: positions [B, P] (P = max_predictions), the
    original ids there, and weights 1.0 for real predictions. Per row, max(1, min(P, round(len · mask_prob)))
    positions (len counts [CLS]/[SEP]) are drawn uniformly among tokens that are not padding or special; of
    those, `mask_token_prob` become [MASK] and the rest keep their token.
    """
    sequence_length = input_ids.shape[1]
    candidates = tf.cast(input_mask, tf.bool)
    for token_id in special_ids:
        candidates &= tf.not_equal(input_ids, token_id)
    noise = _per_example_uniform(seeds, [sequence_length + max_predictions], salt=0)
    position_noise, replace_noise = noise[:, :sequence_length], noise[:, sequence_length:]

    scores = tf.where(candidates, position_noise, -1.0)
    top_scores, positions = tf.math.top_k(scores, k=max_predictions)
    num_tokens = tf.reduce_sum(tf.cast(input_mask, tf.float32), axis=1)
    num_to_predict = tf.clip_by_value(tf.cast(tf.round(num_tokens * mask_prob), tf.int32), 1, max_predictions)
    weights = tf.cast(tf.range(max_predictions)[None, :] < num_to_predict[:, None], tf.float32)
    weights *= tf.cast(top_scores >= 0.0, tf.float32)  # rows with fewer candidates than predictions

    target_ids = tf.gather(input_ids, positions, batch_dims=1)
    replace = weights * tf.cast(replace_noise < mask_token_prob, tf.float32)
    replaced = tf.reduce_max(tf.one_hot(positions, sequence_length) * replace[:, :, None], axis=1) > 0
    masked_ids = tf.where(replaced, tf.cast(mask_id, input_ids.dtype), input_ids)
    return masked_ids, positions, target_ids, weights


def sample_replacements(logits, seeds, target_ids, temperature=1.0, disallow_correct=False, salt=1):
    """Gumbel-max sample [B, P] from generator logits [B, P, V] (no gradient flows through it); `salt` keeps the
    noise of other draws (the health metrics' unigram fills) apart from the generator's."""
    logits = tf.stop_gradient(tf.cast(logits, tf.float32)) / temperature
    if disallow_correct:
        logits -= 1000.0 * tf.one_hot(target_ids, tf.shape(logits)[-1])
    uniform = _per_example_uniform(seeds, logits.shape[1:], salt=salt)
    gumbel = -tf.math.log(-tf.math.log(uniform + 1e-9) + 1e-9)
    return tf.argmax(logits + gumbel, axis=-1, output_type=target_ids.dtype)


def replace_tokens(input_ids, positions, new_ids, weights):
    """Writes `new_ids` at `positions` (where weight > 0) into `input_ids`."""
    sequence_length = input_ids.shape[1]
    one_hot = tf.one_hot(positions, sequence_length, dtype=tf.int32) * tf.cast(weights > 0, tf.int32)[:, :, None]
    written = tf.reduce_max(one_hot, axis=1) > 0
    values = tf.reduce_sum(one_hot * tf.cast(new_ids, tf.int32)[:, :, None], axis=1)
    return tf.where(written, tf.cast(values, input_ids.dtype), input_ids)
