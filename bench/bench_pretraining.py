"""Pre-training step time at KoELECTRA-small-v3 shape (seq 128, batch 32) on this machine's CPU.

Compares, in one process and on the same batch: our train step (plain and `jit_compile`, float32 and
mixed_bfloat16) against the same replaced-token-detection step assembled from transformers'
`TFElectraForMaskedLM` + `TFElectraForPreTraining` (same masking code, same loss, tf-keras AdamW), each
inside `tf.function`, the peer in float32 and under tf-keras' mixed_bfloat16 policy, so that every row has a
peer of the same precision. Also reports achieved FLOP/s (analytic count of the original algorithm's matmuls,
training = 3x forward; our step skips part of them, see `ElectraEncoder`'s `output_positions`) against a
measured float32 matmul peak of this machine. The candidates are built and warmed up first, then take turns
step by step (`--repeats` rounds) and the medians are compared.

Run: `python -m bench.bench_pretraining [--repeats 5] [--no_peer] [--skip NAME]`.
"""

import argparse
import functools
import os
import time

import numpy as np
import tensorflow as tf

from bench.common import ROOT, one_call, print_table, take_turns, time_call

BATCH, LENGTH = 32, 128
PEERS = {precision: f"transformers TF classes (RTD step) {precision}" for precision in ("float32", "mixed_bfloat16")}


def training_flops(discriminator, generator, predictions, batch=BATCH, length=LENGTH):
    """Matmul FLOPs of one training step: 3 x forward (forward + two backward matmuls)."""
    def encoder(config):
        per_token_layer = 2 * (4 * config.hidden_size ** 2 + 2 * config.hidden_size * config.intermediate_size)
        attention = 2 * 2 * length * config.hidden_size
        projection = 2 * config.embedding_size * config.hidden_size if config.embedding_size != config.hidden_size else 0
        return batch * length * (config.num_hidden_layers * (per_token_layer + attention) + projection)

    generator_head = batch * predictions * 2 * (generator.hidden_size * generator.embedding_size
                                                + generator.embedding_size * generator.vocab_size)
    discriminator_head = batch * length * 2 * (discriminator.hidden_size ** 2 + discriminator.hidden_size)
    return 3 * (encoder(discriminator) + encoder(generator) + generator_head + discriminator_head)


def matmul_peak(size=2048, repeats=5):
    a = tf.random.normal((size, size))
    function = tf.function(lambda: tf.matmul(a, a))
    return 2 * size ** 3 / time_call(function, repeats=repeats)


def synthetic_batch(vocab_size, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab_size, (BATCH, LENGTH)).astype(np.int32)
    ids[:, 0], ids[:, LENGTH // 2], ids[:, -1] = 2, 3, 3
    segments = np.zeros_like(ids)
    segments[:, LENGTH // 2 + 1:] = 1
    return {"input_ids": tf.constant(ids), "input_mask": tf.ones_like(ids), "segment_ids": tf.constant(segments)}


def ours_step(config, jit_compile, precision, unigram=None):
    """One compiled step of `PretrainingRun` on a fixed synthetic batch (`unigram`: see `PretrainingRun`)."""
    import keras

    from electra_tf.pretraining.loop import PretrainingRun

    keras.mixed_precision.set_global_policy(precision)
    run = PretrainingRun(config, config.discriminator_config(), {"pad": 0, "cls": 2, "sep": 3, "mask": 4},
                         "/tmp/electra_tf_bench_unused", tf.distribute.get_strategy(), jit_compile=jit_compile,
                         unigram=unigram)
    batch = synthetic_batch(config.discriminator_config().vocab_size)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    iterator = iter(run.strategy.experimental_distribute_dataset(dataset))
    keras.mixed_precision.set_global_policy("float32")
    return lambda: run.train_steps(iterator, 1)


def transformers_step(config, precision="float32"):
    """The RTD step from transformers' TF classes (generator + discriminator, shared embeddings table), built
    under the tf-keras dtype policy `precision`."""
    import tf_keras
    import transformers
    from transformers.optimization_tf import AdamWeightDecay

    from electra_tf.pretraining import masking

    tf_keras.mixed_precision.set_global_policy(precision)

    disc_config = config.discriminator_config()
    gen_config = config.generator_config(disc_config)
    to_hf = lambda c: transformers.ElectraConfig(**c.replace(architectures=None).to_dict())  # noqa: E731
    discriminator = transformers.TFElectraForPreTraining(to_hf(disc_config))
    generator = transformers.TFElectraForMaskedLM(to_hf(gen_config))
    discriminator(discriminator.dummy_inputs)
    generator(generator.dummy_inputs)
    generator.electra.embeddings = discriminator.electra.embeddings  # share the embedding block
    generator.generator_lm_head.input_embeddings = discriminator.electra.embeddings
    tf_keras.mixed_precision.set_global_policy("float32")
    optimizer = AdamWeightDecay(learning_rate=5e-4, weight_decay_rate=0.01, epsilon=1e-6,
                                exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"], global_clipnorm=1.0)
    batch = synthetic_batch(disc_config.vocab_size)
    variables = list({id(v): v for v in discriminator.trainable_variables + generator.trainable_variables}.values())

    @tf.function
    def step():
        seeds = masking.example_seeds(1, optimizer.iterations, BATCH, 0, BATCH)
        masked_ids, positions, targets, weights = masking.mask_inputs(
            batch["input_ids"], batch["input_mask"], seeds, [2, 3, 4], 4, config.mask_prob,
            config.max_predictions_per_seq)
        with tf.GradientTape() as tape:
            logits = generator(input_ids=masked_ids, attention_mask=batch["input_mask"],
                               token_type_ids=batch["segment_ids"], training=True).logits
            logits = tf.cast(tf.gather(logits, positions, batch_dims=1), tf.float32)
            mlm = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
            mlm_loss = tf.reduce_sum(mlm * weights) / (tf.reduce_sum(weights) + 1e-6)
            sampled = masking.sample_replacements(logits, seeds, targets)
            fake = masking.replace_tokens(masked_ids, positions, sampled, weights)
            labels = tf.cast(tf.not_equal(fake, batch["input_ids"]), tf.float32)
            disc_logits = discriminator(input_ids=fake, attention_mask=batch["input_mask"],
                                        token_type_ids=batch["segment_ids"], training=True).logits
            disc_logits = tf.cast(disc_logits, tf.float32)
            disc_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=disc_logits))
            loss = mlm_loss + 50.0 * disc_loss
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        return loss

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=os.path.join(ROOT, "configs", "pretrain", "koelectra-small-v3.json"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no_peer", action="store_true", help="skip the transformers step")
    parser.add_argument("--skip", action="append", default=[], help="skip candidates whose name contains this")
    args = parser.parse_args()

    from electra_tf.pretraining.config import PretrainingConfig

    config = PretrainingConfig.from_json_file(args.config, {"max_seq_length": LENGTH, "train_batch_size": BATCH,
                                                            "max_predictions_per_seq": None})
    flops = training_flops(config.discriminator_config(), config.generator_config(config.discriminator_config()),
                           config.max_predictions_per_seq)
    peak = matmul_peak()
    candidates = {
        "electra_tf float32": lambda: ours_step(config, False, "float32"),
        "electra_tf float32 + jit_compile": lambda: ours_step(config, True, "float32"),
        "electra_tf mixed_bfloat16": lambda: ours_step(config, False, "mixed_bfloat16"),
        "electra_tf mixed_bfloat16 + jit_compile": lambda: ours_step(config, True, "mixed_bfloat16"),
    }
    if not args.no_peer:
        candidates[PEERS["float32"]] = lambda: transformers_step(config)
        candidates[PEERS["mixed_bfloat16"]] = lambda: transformers_step(config, "mixed_bfloat16")
    candidates = {name: make for name, make in candidates.items() if not any(part in name for part in args.skip)}
    steps = {}
    for name, make in candidates.items():
        start = time.perf_counter()
        steps[name] = make()
        time_call(steps[name], warmup=2, repeats=1)
        print(f"{name}: built and warmed up in {time.perf_counter() - start:.0f} s", flush=True)
    seconds = take_turns({name: functools.partial(one_call, step) for name, step in steps.items()}, args.repeats)

    def speed_up(value, precision):
        peer = seconds.get(PEERS[precision])
        return f"{peer / value:.2f}x" if peer else "-"

    rows = [{"step": name, "s/step": f"{value:.3f}", "GFLOP/s": f"{flops / value / 1e9:.1f}",
             "% of matmul peak": f"{100 * flops / value / peak:.0f}%",
             "vs transformers float32": speed_up(value, "float32"),
             "vs transformers, same precision": speed_up(value, "mixed_bfloat16" if "bfloat16" in name else "float32")}
            for name, value in seconds.items()]
    print_table(f"RTD train step, {os.path.basename(args.config)}, batch {BATCH} x {LENGTH}; "
                f"{flops / 1e9:.0f} GFLOP/step; float32 matmul peak {peak / 1e9:.0f} GFLOP/s", rows,
                ["step", "s/step", "GFLOP/s", "% of matmul peak", "vs transformers float32",
                 "vs transformers, same precision"])


if __name__ == "__main__":
    main()
