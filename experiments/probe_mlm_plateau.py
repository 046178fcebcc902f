"""Is the generator's unigram plateau ours, or the architecture's? (issue #15)

    python -m experiments.probe_mlm_plateau --data_dir SHARDS --steps 1000 [--learning_rate 5e-4] [--hidden_size 64]
    python -m experiments.probe_mlm_plateau --synthetic_length 16 --steps 3000 --learning_rate 2e-3

Trains transformers' `TFElectraForMaskedLM` (an implementation independent of ours, on tf-keras) as a masked LM
alone: Keras Adam (with bias correction), linear warmup then linear decay to 0, global-norm clipping 1.0, on
- `--data_dir`: pre-training shards, masked by our `masking.mask_inputs` with a pre-training run's per-example
  seeds (the last shard is held out for scoring); or
- `--synthetic_length L`: rows of L/2 random tokens each written twice, so a masked token is a copy of its
  neighbour: context gives it away, token frequencies cannot.
Every `--every` steps it scores the [MASK] positions of `--eval_rows` held-out rows (dropout off) and prints their
loss and accuracy against the no-context baseline (the shards' unigram entropy; ln(token count) for the synthetic
rows). A model that has not learned to use context sits at that baseline. Writes `--output` (JSON) and a PNG of
the curves beside it.
"""

import argparse
import itertools
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf
import tf_keras
from transformers import ElectraConfig, TFElectraForMaskedLM

from electra_tf import io_utils
from electra_tf.data.pretraining_dataset import pretraining_dataset
from electra_tf.data.schema import our_shards
from electra_tf.pretraining import masking
from electra_tf.pretraining.config import default_max_predictions
from electra_tf.pretraining.curves import plot_curves
from electra_tf.pretraining.diagnose import entropy, unigram_distribution
from electra_tf.tokenization import load_vocab, special_token_ids

SYNTHETIC_SPECIALS = {"pad": 0, "cls": 2, "sep": 3, "mask": 4}
SYNTHETIC_TOKENS = range(5, 300)
EVAL_STEP = 10 ** 9  # the seeds of the scored rows' masks: no training step uses them


def synthetic_rows(rows, length, rng):
    """[CLS] a a b b ... [SEP]: `length` (even) tokens, each drawn token written twice."""
    drawn = rng.integers(SYNTHETIC_TOKENS.start, SYNTHETIC_TOKENS.stop, size=(rows, (length - 2) // 2))
    ids = np.concatenate([np.full((rows, 1), SYNTHETIC_SPECIALS["cls"]), np.repeat(drawn, 2, axis=1),
                          np.full((rows, 1), SYNTHETIC_SPECIALS["sep"])], axis=1)
    return {"input_ids": tf.constant(ids, tf.int32), "input_mask": tf.ones(ids.shape, tf.int32),
            "segment_ids": tf.zeros(ids.shape, tf.int32)}


def bigram_cross_entropy(fit_ids, fit_mask, scored_ids, scored_mask, excluded, vocab_size, strength=50.0):
    """Held-out loss (nats) of a bigram model (the previous token only), interpolated with the unigram
    distribution by count (weight n / (n + `strength`)), fitted on `fit_*` and scored on the ordinary tokens of
    `scored_*`: how much a single neighbour tells about a token."""
    def pairs(ids, mask):
        previous, current = ids[:, :-1].ravel(), ids[:, 1:].ravel()
        keep = (mask[:, 1:].ravel() == 1) & ~np.isin(current, excluded)
        return previous[keep].astype(np.int64), current[keep].astype(np.int64)

    previous, current = pairs(fit_ids, fit_mask)
    keys, counts = np.unique(previous * vocab_size + current, return_counts=True)
    context_counts = np.bincount(previous, minlength=vocab_size)
    unigram = (np.bincount(current, minlength=vocab_size) + 1.0) / (len(current) + vocab_size)
    previous, current = pairs(scored_ids, scored_mask)
    found = np.searchsorted(keys, previous * vocab_size + current)
    found = np.minimum(found, len(keys) - 1)
    pair_counts = np.where(keys[found] == previous * vocab_size + current, counts[found], 0)
    seen = context_counts[previous]
    weight = seen / (seen + strength)
    probability = weight * pair_counts / np.maximum(seen, 1) + (1 - weight) * unigram[current]
    return float(-np.log(probability).mean())


def shard_data(data_dir, batch_size, eval_rows, unigram_rows, seed):
    """(training batches, scored rows, special ids, vocab size, baselines) from the shards in `data_dir`."""
    files = sorted(our_shards(data_dir))
    if len(files) < 2:
        raise ValueError(f"--data_dir {data_dir}: needs at least two shards (the last one is held out)")
    vocab = load_vocab(os.path.join(data_dir, "vocab.txt"))
    specials = special_token_ids(vocab)
    length = io_utils.read_json(os.path.join(data_dir, "stats.json"))["max_seq_length"]
    train = pretraining_dataset(files[:-1], length, batch_size, is_training=True, seed=seed)
    counted = next(iter(pretraining_dataset(files[-1:], length, max(eval_rows, unigram_rows), is_training=False,
                                            drop_remainder=False)))
    excluded = [specials["cls"], specials["sep"], specials["mask"], specials["pad"]]
    unigram = unigram_distribution(counted["input_ids"].numpy(), counted["input_mask"].numpy(), excluded,
                                   len(vocab))
    held_out = {name: values[:eval_rows] for name, values in counted.items()}
    fitted = next(iter(pretraining_dataset(files[:-1], length, unigram_rows, is_training=False)))
    bigram = bigram_cross_entropy(fitted["input_ids"].numpy(), fitted["input_mask"].numpy(),
                                  counted["input_ids"].numpy(), counted["input_mask"].numpy(), excluded, len(vocab))
    return train, held_out, specials, len(vocab), {"no_context": entropy(unigram), "bigram": bigram}


def synthetic_data(length, batch_size, eval_rows, seed):
    rng = np.random.default_rng(seed)
    train = (synthetic_rows(batch_size, length, rng) for _ in itertools.count())
    held_out = synthetic_rows(eval_rows, length, np.random.default_rng(seed + 1))
    return train, held_out, SYNTHETIC_SPECIALS, SYNTHETIC_TOKENS.stop, {"no_context": math.log(len(SYNTHETIC_TOKENS))}


def make_model(args, vocab_size, length):
    """A random-init masked LM of the flags' shape, or `--model`'s exported generator (its own shape)."""
    if args.model:
        return TFElectraForMaskedLM.from_pretrained(args.model)
    config = ElectraConfig(
        vocab_size=vocab_size, embedding_size=args.embedding_size, hidden_size=args.hidden_size,
        num_hidden_layers=args.layers, num_attention_heads=max(1, args.hidden_size // 64),
        intermediate_size=4 * args.hidden_size, max_position_embeddings=max(128, length),
        initializer_range=args.initializer_range)
    return TFElectraForMaskedLM(config)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data_dir", help="pre-training shards (with vocab.txt and stats.json)")
    source.add_argument("--synthetic_length", type=int, help="rows of this many tokens, each token twice")
    parser.add_argument("--model", help="start from this exported generator (a run's export/generator, tf_model.h5) "
                        "instead of a random init; with --steps 0 it is only scored, on the same rows and masks")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--learning_rate", type=float, default=5e-4)
    parser.add_argument("--warmup_steps", type=int, default=100)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--hidden_size", type=int, default=64, help="64: the tiny preset's generator")
    parser.add_argument("--embedding_size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--initializer_range", type=float, default=0.02)
    parser.add_argument("--mask_prob", type=float, default=0.15)
    parser.add_argument("--every", type=int, default=100, help="score the held-out rows every this many steps")
    parser.add_argument("--eval_rows", type=int, default=512)
    parser.add_argument("--unigram_rows", type=int, default=8000,
                        help="held-out rows the unigram entropy is counted on (and training rows the bigram fits)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", default="mlm_plateau.json")
    args = parser.parse_args(argv)
    if args.synthetic_length is not None and (args.synthetic_length < 4 or args.synthetic_length % 2):
        parser.error(f"--synthetic_length {args.synthetic_length}: must be even and at least 4")

    if args.data_dir:
        try:
            train, held_out, specials, vocab_size, baselines = shard_data(
                args.data_dir, args.batch_size, args.eval_rows, args.unigram_rows, args.seed)
        except (ValueError, FileNotFoundError) as error:
            parser.error(str(error))
    else:
        train, held_out, specials, vocab_size, baselines = synthetic_data(
            args.synthetic_length, args.batch_size, args.eval_rows, args.seed)
    length = held_out["input_ids"].shape[1]
    max_predictions = max(1, default_max_predictions(args.mask_prob, length))
    model = make_model(args, vocab_size, length)
    optimizer = tf_keras.optimizers.Adam(learning_rate=args.learning_rate, epsilon=1e-6, global_clipnorm=1.0)

    def mask(batch, step):
        seeds = masking.example_seeds(args.seed, step, args.batch_size, 0, batch["input_ids"].shape[0])
        return masking.mask_inputs(batch["input_ids"], batch["input_mask"], seeds,
                                   [specials["cls"], specials["sep"], specials["mask"]], specials["mask"],
                                   args.mask_prob, max_predictions)

    def logits_at(batch, masked_ids, positions, training):
        logits = model(input_ids=masked_ids, attention_mask=batch["input_mask"],
                       token_type_ids=batch["segment_ids"], training=training).logits
        return tf.gather(logits, positions, batch_dims=1)

    @tf.function
    def train_step(batch, step):
        masked_ids, positions, targets, weights = mask(batch, step)
        with tf.GradientTape() as tape:
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
                targets, logits_at(batch, masked_ids, positions, training=True))
            loss = tf.reduce_sum(losses * weights) / tf.reduce_sum(weights)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))

    @tf.function
    def score(batch):
        masked_ids, positions, targets, weights = mask(batch, EVAL_STEP)
        logits = logits_at(batch, masked_ids, positions, training=False)
        at_mask = weights * tf.cast(tf.equal(tf.gather(masked_ids, positions, batch_dims=1), specials["mask"]),
                                    tf.float32)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
        correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=targets.dtype), targets), tf.float32)
        count = tf.reduce_sum(at_mask)
        return tf.reduce_sum(losses * at_mask) / count, tf.reduce_sum(correct * at_mask) / count

    baseline = baselines["no_context"]
    print(f"no-context baseline {baseline:.3f} nats; {args.steps} steps of {args.batch_size} x {length} tokens")
    if "bigram" in baselines:
        print(f"held-out bigram model (previous token only, {args.unigram_rows} training rows): "
              f"{baselines['bigram']:.3f} nats")
    history = []

    def record(step):
        loss, accuracy = (float(value) for value in score(held_out))
        history.append({"step": step, "mask_loss": loss, "mask_accuracy": accuracy,
                        "loss_over_baseline": loss - baseline})
        print(f"step {step}: [MASK] loss {loss:.3f} ({loss - baseline:+.3f} against the baseline), "
              f"accuracy {accuracy:.3f}", flush=True)

    if args.steps == 0:
        record(0)
    for step, batch in zip(range(args.steps), train):
        rate = args.learning_rate * min(1.0, (step + 1) / max(1, args.warmup_steps)) * (1 - step / args.steps)
        optimizer.learning_rate.assign(rate)
        train_step(batch, tf.constant(step, tf.int64))
        if (step + 1) % args.every == 0 or step + 1 == args.steps:
            record(step + 1)
    result = {"settings": vars(args), "baselines": baselines, "history": history}
    io_utils.write_json(args.output, result)
    plot_curves({"transformers TFElectraForMaskedLM": history}, os.path.splitext(args.output)[0] + ".png",
                curves=("mask_loss", "mask_accuracy"))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
