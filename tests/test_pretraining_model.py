"""Masking, sampling, labels and the loss at initialization of the replaced-token-detection pre-trainer."""

import math

import numpy as np
import pytest
import tensorflow as tf

from electra_tf.pretraining import masking
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.pretraining.metrics import metrics_from_sums
from electra_tf.pretraining.model import ElectraPretrainer

PAD, CLS, SEP, MASK = 0, 2, 3, 4


def _packed_batch(rows=64, length=128, vocab_size=500, seed=0):
    """[CLS] A [SEP] B [SEP] rows with random lengths and padding, like the corpus builder writes."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((rows, length), np.int32)
    segments = np.zeros_like(ids)
    for row in range(rows):
        used = int(rng.integers(20, length + 1))
        ids[row, :used] = rng.integers(5, vocab_size, used)
        split = used // 2
        ids[row, 0], ids[row, split], ids[row, used - 1] = CLS, SEP, SEP
        segments[row, split + 1:used] = 1
    return {"input_ids": tf.constant(ids), "input_mask": tf.constant((ids != PAD).astype(np.int32)),
            "segment_ids": tf.constant(segments)}


def _seeds(rows, step=0):
    return masking.example_seeds(7, step, rows, 0, rows)


def test_masking_counts_positions_and_85_15_split():
    batch = _packed_batch(rows=256)
    ids, mask = batch["input_ids"], batch["input_mask"]
    masked_ids, positions, targets, weights = masking.mask_inputs(
        ids, mask, _seeds(256), [CLS, SEP, MASK], MASK, 0.15, 19)
    ids_np, positions_np, weights_np = ids.numpy(), positions.numpy(), weights.numpy()
    lengths = mask.numpy().sum(1)
    expected = np.clip(np.round(lengths * 0.15), 1, 19)  # numpy rounds half to even, like tf.round
    np.testing.assert_array_equal(weights_np.sum(1), expected)
    chosen_tokens = 0
    kept = 0
    for row in range(256):
        chosen = positions_np[row][weights_np[row] > 0]
        assert len(set(chosen)) == len(chosen), "positions drawn without replacement"
        assert not np.isin(ids_np[row, chosen], [PAD, CLS, SEP, MASK]).any(), "special or padding token masked"
        np.testing.assert_array_equal(targets.numpy()[row][weights_np[row] > 0], ids_np[row, chosen])
        kept += int((masked_ids.numpy()[row, chosen] == ids_np[row, chosen]).sum())
        chosen_tokens += len(chosen)
        untouched = np.setdiff1d(np.arange(128), chosen)
        np.testing.assert_array_equal(masked_ids.numpy()[row, untouched], ids_np[row, untouched])
    assert abs(kept / chosen_tokens - 0.15) < 0.03, kept / chosen_tokens
    assert set(np.unique(masked_ids.numpy()[ids_np != masked_ids.numpy()])) == {MASK}  # no random tokens


def test_masking_is_keyed_per_example_not_per_batch_split():
    batch = _packed_batch(rows=8)
    whole = masking.mask_inputs(batch["input_ids"], batch["input_mask"], masking.example_seeds(3, 5, 8, 0, 8),
                                [CLS, SEP, MASK], MASK, 0.15, 19)[1]
    second_half = masking.mask_inputs(batch["input_ids"][4:], batch["input_mask"][4:],
                                      masking.example_seeds(3, 5, 8, 4, 4), [CLS, SEP, MASK], MASK, 0.15, 19)[1]
    np.testing.assert_array_equal(whole.numpy()[4:], second_half.numpy())
    next_step = masking.mask_inputs(batch["input_ids"], batch["input_mask"], masking.example_seeds(3, 6, 8, 0, 8),
                                    [CLS, SEP, MASK], MASK, 0.15, 19)[1]
    assert not np.array_equal(whole.numpy(), next_step.numpy())


def test_gumbel_sampling_follows_the_softmax_and_disallow_correct():
    probabilities = np.array([0.5, 0.3, 0.15, 0.05], np.float32)
    logits = tf.constant(np.log(probabilities)[None, None, :].repeat(4000, 1))  # [1, 4000, 4]
    targets = tf.zeros((1, 4000), tf.int32)
    sampled = masking.sample_replacements(logits, _seeds(1), targets).numpy()[0]
    frequencies = np.bincount(sampled, minlength=4) / 4000
    np.testing.assert_allclose(frequencies, probabilities, atol=0.03)
    never_correct = masking.sample_replacements(logits, _seeds(1), targets, disallow_correct=True).numpy()
    assert (never_correct != 0).all()
    cold = masking.sample_replacements(logits, _seeds(1), targets, temperature=0.01).numpy()
    assert (cold == 0).all()


def test_replace_tokens_writes_only_weighted_positions():
    ids = tf.constant([[2, 10, 11, 12, 3, 0]])
    result = masking.replace_tokens(ids, tf.constant([[1, 3, 0]]), tf.constant([[20, 30, 40]]),
                                    tf.constant([[1.0, 1.0, 0.0]]))
    np.testing.assert_array_equal(result.numpy(), [[2, 20, 11, 30, 3, 0]])


def _tiny_pretrainer(vocab_size=500, **overrides):
    config = PretrainingConfig(model_preset="tiny", model_overrides={"vocab_size": vocab_size},
                               generator_hidden_size=0.5, max_seq_length=128, train_batch_size=64, **overrides)
    discriminator_config = config.discriminator_config()
    return config, ElectraPretrainer(config, discriminator_config,
                                     {"pad": PAD, "cls": CLS, "sep": SEP, "mask": MASK})


def test_labels_mark_exactly_the_replaced_tokens_and_initial_loss():
    config, pretrainer = _tiny_pretrainer()
    batch = _packed_batch(rows=64)
    seeds = _seeds(64)
    masked = pretrainer.mask(batch, seeds)
    outputs = pretrainer(batch, masked, seeds, training=False)
    sums = {key: value.numpy() for key, value in outputs.items() if key != "loss"}
    metrics = metrics_from_sums(sums, config.gen_weight, config.disc_weight)
    expected = math.log(500) + 50 * math.log(2)
    assert abs(float(outputs["loss"]) - expected) < 0.05 * expected, (float(outputs["loss"]), expected)
    assert abs(metrics["loss"] - float(outputs["loss"])) < 1e-3
    # Replaced tokens: a subset of the masked positions, and (random generator) almost all of them.
    assert 0 < sums["positives"] <= sums["mlm_weight"]
    assert sums["positives"] > 0.9 * sums["mlm_weight"]
    assert sums["tokens"] == float(batch["input_mask"].numpy().sum())


def test_generator_shape_follows_the_fractions():
    config, pretrainer = _tiny_pretrainer()
    generator = pretrainer.generator.config
    assert (generator.hidden_size, generator.num_attention_heads, generator.intermediate_size) == (64, 1, 256)
    assert pretrainer.generator.electra.embeddings is pretrainer.discriminator.electra.embeddings
    _, untied = _tiny_pretrainer(untied_generator_embeddings=True)
    assert untied.generator.electra.embeddings is not untied.discriminator.electra.embeddings


@pytest.mark.slow
@pytest.mark.parametrize("policy, jit_compile", [("mixed_float16", False), ("mixed_bfloat16", True)])
def test_train_step_runs_under_mixed_precision_and_xla(policy, jit_compile, tmp_path):
    import keras

    from electra_tf.pretraining.loop import PretrainingRun

    keras.mixed_precision.set_global_policy(policy)
    try:
        config = PretrainingConfig(model_preset="tiny", model_overrides={"vocab_size": 500},
                                   generator_hidden_size=0.5, max_seq_length=32, train_batch_size=8,
                                   warmup_steps=0, learning_rate=1e-4)
        run = PretrainingRun(config, config.discriminator_config(), {"pad": PAD, "cls": CLS, "sep": SEP, "mask": MASK},
                             str(tmp_path), tf.distribute.get_strategy(), jit_compile=jit_compile)
        before = run.pretrainer.discriminator.head.dense.kernel.numpy()
        iterator = iter(tf.data.Dataset.from_tensors(_packed_batch(rows=8, length=32)).repeat())
        sums = run.train_steps(iterator, 20)  # float16: the loss scale first halves itself on overflowing steps
    finally:
        keras.mixed_precision.set_global_policy("float32")
    metrics = metrics_from_sums(sums, config.gen_weight, config.disc_weight)
    assert np.isfinite(metrics["loss"]) and sums["nonfinite"] == 0 and run.step == 20  # skipped steps count
    scaling = run.engine.loss_scale_metrics()
    if policy == "mixed_float16":
        assert 0 <= scaling["skipped_steps"] < 20 and scaling["loss_scale"] == 2.0 ** (15 - scaling["skipped_steps"])
    else:
        assert scaling == {}
    assert run.pretrainer.discriminator.electra.transformer_layers[0].compute_dtype == policy.split("_")[1]
    assert not np.array_equal(before, run.pretrainer.discriminator.head.dense.kernel.numpy())
