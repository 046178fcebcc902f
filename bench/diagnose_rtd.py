"""What a pre-training run's discriminator detects: token identity or context (issue #15).

    python bench/diagnose_rtd.py --model_dir RUN --data_dir SHARDS [--vocab V] [--rows 1024] [--skip 8000]

Loads the newest checkpoint of RUN (a `run_pretraining.py` model directory), masks `--rows` records of the
shards (after the first `--skip`) as training does, with dropout off, and scores the discriminator on the same
masked positions filled three ways:

- `generator`: the run's own generator samples (what training sees; the logged disc_auc);
- `unigram`: tokens drawn from the shards' unigram distribution. They carry no token-identity signal (same
  marginal as the data, no context), so an AUC above 0.5 without [CLS]/[SEP] comes only from context;
- `uniform`: tokens drawn uniformly from the vocabulary (special tokens left out): rare tokens give the
  replacement away, so this AUC measures the token-identity signal the discriminator has learned.

It also reports the generator at [MASK] and at kept positions against the unigram entropy (a generator that
has learned no context sits at it), the KL divergence of its samples' marginal from the unigram distribution,
and the AUC of a detector that sees only the token (fitted on half of the rows, scored on the other half; an
underestimate, as rare tokens are seen too few times).
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from electra_tf import rundir  # noqa: E402
from electra_tf.data.pretraining_dataset import parse_examples  # noqa: E402
from electra_tf.data.schema import shard_files  # noqa: E402
from electra_tf.io_utils import expand_globs  # noqa: E402
from electra_tf.pretraining import masking  # noqa: E402
from electra_tf.pretraining.model import ElectraPretrainer  # noqa: E402
from electra_tf.tokenization import load_vocab, special_token_ids  # noqa: E402

BATCH = 64


def exact_auc(scores, labels):
    """P(score of a positive > score of a negative), ties counted half (Mann-Whitney U over average ranks)."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels).astype(bool)
    positives, negatives = labels.sum(), (~labels).sum()
    if not positives or not negatives:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank of each distinct score
    ranks = average_rank[inverse]
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def identity_only_auc(tokens, labels, vocab_size, prior):
    """AUC of P(replaced | token id) estimated on the even rows (add-one smoothing towards `prior`) and scored
    on the odd rows: what a detector that ignores context can do (an underestimate for rare tokens).
    `tokens`, `labels`: [rows, length] with the positions to score; other entries masked out by `labels < 0`."""
    fit, score = slice(0, None, 2), slice(1, None, 2)
    used = labels[fit] >= 0
    replaced = np.bincount(tokens[fit][used], weights=labels[fit][used], minlength=vocab_size)
    seen = np.bincount(tokens[fit][used], minlength=vocab_size)
    probability = (replaced + prior) / (seen + 1.0)
    used = labels[score] >= 0
    return exact_auc(probability[tokens[score][used]], labels[score][used])


def unigram_distribution(input_ids, input_mask, excluded_ids, vocab_size):
    """The frequency of each token among the real tokens, `excluded_ids` (specials) left out."""
    tokens = input_ids[(input_mask == 1) & ~np.isin(input_ids, excluded_ids)]
    counts = np.bincount(tokens, minlength=vocab_size).astype(np.float64)
    return counts / counts.sum()


def kl_divergence(p, q):
    nonzero = p > 0
    return float(np.sum(p[nonzero] * np.log(p[nonzero] / np.maximum(q[nonzero], 1e-12))))


def entropy(p):
    nonzero = p > 0
    return float(-np.sum(p[nonzero] * np.log(p[nonzero])))


def load_pretrainer(model_dir, special_ids):
    """The pre-trainer of `model_dir` with the weights of its newest checkpoint (every variable restored)."""
    config, discriminator_config = rundir.read_run_configs(model_dir)
    pretrainer = ElectraPretrainer(config, discriminator_config, special_ids)
    path = tf.train.latest_checkpoint(model_dir)
    if not path:
        raise FileNotFoundError(f"no checkpoint in --model_dir {model_dir}")
    tf.train.Checkpoint(pretrainer=pretrainer).restore(path).expect_partial().assert_existing_objects_matched()
    return config, pretrainer, path


def score_batches(pretrainer, config, dataset, unigram, rng):
    """Per batch: masks as training does, samples from the generator, and the discriminator's logits for the
    three fills. Returns a dict of concatenated numpy arrays."""
    vocab_size = len(unigram)
    ordinary = np.setdiff1d(np.arange(vocab_size), list(pretrainer.special_ids.values()))
    results = {}
    for step, batch in enumerate(dataset):
        seeds = masking.example_seeds(config.seed, step, BATCH, 0, BATCH)
        masked = pretrainer.mask(batch, seeds)
        inputs = {"attention_mask": batch["input_mask"], "token_type_ids": batch["segment_ids"]}
        hidden = pretrainer.generator.electra({"input_ids": masked["masked_ids"], **inputs}, training=False,
                                              output_positions=masked["positions"])
        mlm_logits = tf.cast(pretrainer.generator.head(hidden), tf.float32)
        shape = masked["positions"].shape
        sampled = masking.sample_replacements(mlm_logits, seeds, masked["targets"], config.temperature)
        fills = {"generator": sampled,
                 "unigram": tf.constant(rng.choice(vocab_size, size=shape, p=unigram), tf.int32),
                 "uniform": tf.constant(rng.choice(ordinary, size=shape), tf.int32)}
        row = {"input_ids": batch["input_ids"], "input_mask": batch["input_mask"], "positions": masked["positions"],
               "weights": masked["weights"], "targets": masked["targets"], "masked_ids": masked["masked_ids"],
               "mlm_log_probs": tf.nn.log_softmax(mlm_logits), "sampled": sampled}
        for name, fill in fills.items():
            fake = masking.replace_tokens(masked["masked_ids"], masked["positions"], fill, masked["weights"])
            row[f"{name}_ids"] = fake
            row[f"{name}_logits"] = pretrainer.discriminator({"input_ids": fake, **inputs}, training=False)["logits"]
        for key, value in row.items():
            results.setdefault(key, []).append(np.asarray(value))
    return {key: np.concatenate(values) for key, values in results.items()}


def report(results, unigram, special_ids):
    ids, real = results["input_ids"], results["input_mask"] == 1
    not_special = real & ~np.isin(ids, [special_ids["cls"], special_ids["sep"]])
    print(f"{int(real.sum())} tokens in {len(ids)} rows; unigram entropy {entropy(unigram):.3f} nats")
    print(f"{'fill':10s} {'replaced':>8s} {'disc_loss':>9s} {'const':>6s} {'AUC':>6s} {'AUC w/o CLS/SEP':>15s}")
    for name in ("generator", "unigram", "uniform"):
        labels = (results[f"{name}_ids"] != ids).astype(np.float64)
        logits = results[f"{name}_logits"].astype(np.float64)
        losses = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
        rate = labels[real].mean()
        constant = -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))
        auc, auc_text = exact_auc(logits[real], labels[real]), exact_auc(logits[not_special], labels[not_special])
        print(f"{name:10s} {rate:8.3f} {losses[real].mean():9.4f} {constant:6.4f} {auc:6.3f} {auc_text:15.3f}")

    weights = results["weights"] > 0
    at_mask = np.take_along_axis(results["masked_ids"], results["positions"], 1) == special_ids["mask"]
    log_probs, targets = results["mlm_log_probs"], results["targets"]
    nll = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
    correct = log_probs.argmax(-1) == targets
    for name, where in (("[MASK]", weights & at_mask), ("kept", weights & ~at_mask)):
        print(f"generator at {name} positions: {int(where.sum())} predictions, "
              f"accuracy {correct[where].mean():.3f}, loss {nll[where].mean():.3f} "
              f"(unigram entropy {entropy(unigram):.3f}), "
              f"sample = original {(results['sampled'] == targets)[where].mean():.3f}")
    sampled = results["sampled"][weights]
    marginal = np.bincount(sampled, minlength=len(unigram)) / len(sampled)
    labels = np.where(not_special, (results["generator_ids"] != ids).astype(np.float64), -1.0)
    identity_auc = identity_only_auc(results["generator_ids"], labels, len(unigram), labels[labels >= 0].mean())
    print(f"generator samples: KL(marginal || unigram) {kl_divergence(marginal, unigram):.3f} nats; "
          f"token-identity-only AUC (w/o CLS/SEP) {identity_auc:.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--data_dir", required=True, help="the shards' directory")
    parser.add_argument("--vocab", help="default: DATA_DIR/vocab.txt")
    parser.add_argument("--rows", type=int, default=1024, help="records scored (a multiple of 64)")
    parser.add_argument("--skip", type=int, default=0, help="records skipped first")
    parser.add_argument("--unigram_rows", type=int, default=8000, help="records the unigram distribution is counted on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    vocab = load_vocab(args.vocab or os.path.join(args.data_dir, "vocab.txt"))
    special_ids = special_token_ids(vocab)
    config, pretrainer, path = load_pretrainer(args.model_dir, special_ids)
    print(f"checkpoint {path}")
    files = expand_globs(shard_files(args.data_dir))
    records = tf.data.TFRecordDataset(files)
    counted = next(iter(records.batch(args.unigram_rows).map(lambda s: parse_examples(s, config.max_seq_length))))
    unigram = unigram_distribution(counted["input_ids"].numpy(), counted["input_mask"].numpy(),
                                   [special_ids["cls"], special_ids["sep"]], len(vocab))
    dataset = records.skip(args.skip).batch(BATCH, drop_remainder=True).take(args.rows // BATCH).map(
        lambda s: parse_examples(s, config.max_seq_length))
    results = score_batches(pretrainer, config, dataset, unigram, np.random.default_rng(args.seed))
    report(results, unigram, special_ids)


if __name__ == "__main__":
    main()
