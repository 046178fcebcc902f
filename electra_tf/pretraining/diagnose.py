"""What a pre-training run's discriminator detects: token identity or context (issue #15).

    python -m electra_tf.pretraining.diagnose --model_dir RUN --data_dir SHARDS [--vocab V] [--rows 1024] \\
        [--skip 8000] [--unigram_rows 8000] [--seed 0]

Loads the newest checkpoint of RUN (a pre-training `--model_dir`), masks `--rows` records of the shards (after the
first `--skip`) as training does, with dropout off, and scores the discriminator on the same masked positions
filled three ways:

- `generator`: the run's own generator samples (what training sees; the logged disc_auc);
- `unigram`: tokens drawn from the shards' unigram distribution. They carry no token-identity signal (same
  marginal as the data, no context), so an AUC above 0.5 without [CLS]/[SEP] comes only from context;
- `uniform`: tokens drawn uniformly from the vocabulary (special tokens left out): rare tokens give the
  replacement away, so this AUC measures the token-identity signal the discriminator has learned.

It also reports the generator at [MASK] and at kept positions against the unigram entropy (a generator that
has learned no context sits at it), the KL divergence of its samples' marginal from the unigram distribution,
and the AUC of a detector that sees only the token (fitted on half of the rows, scored on the other half; an
underestimate, as rare tokens are seen too few times). The metric functions (`exact_auc`, `identity_only_auc`,
`unigram_distribution`, `entropy`, `kl_divergence`, `fill_metrics`) take numpy arrays and are importable.
"""

import os

import numpy as np
import tensorflow as tf
from absl import flags

from electra_tf import cli, rundir
from electra_tf.data.pretraining_dataset import parse_examples
from electra_tf.data.schema import shard_files
from electra_tf.io_utils import expand_globs
from electra_tf.pretraining import masking
from electra_tf.pretraining.metrics import entropy
from electra_tf.pretraining.model import ElectraPretrainer
from electra_tf.tokenization import load_vocab, special_token_ids

BATCH = 64
FILLS = ("generator", "unigram", "uniform")


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
    """KL(p || q) in nats (q floored at 1e-12)."""
    nonzero = p > 0
    return float(np.sum(p[nonzero] * np.log(p[nonzero] / np.maximum(q[nonzero], 1e-12))))


def fill_metrics(ids, real, not_special, fake_ids, logits):
    """Replaced rate, discriminator loss, the loss of a constant predictor at that rate, and the AUC over all
    real tokens and without [CLS]/[SEP], of one fill (`fake_ids` scored by `logits`; all arrays [rows, length])."""
    labels = (fake_ids != ids).astype(np.float64)
    logits = logits.astype(np.float64)
    losses = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
    rate = labels[real].mean()
    constant = -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate)) if 0 < rate < 1 else 0.0
    return {"replaced": float(rate), "disc_loss": float(losses[real].mean()), "constant_loss": float(constant),
            "auc": exact_auc(logits[real], labels[real]),
            "auc_without_cls_sep": exact_auc(logits[not_special], labels[not_special])}


def generator_metrics(results, where):
    """The generator's accuracy, loss and sample = original rate at the prediction slots `where`."""
    log_probs, targets = results["mlm_log_probs"], results["targets"]
    nll = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
    correct = log_probs.argmax(-1) == targets
    return {"predictions": int(where.sum()), "accuracy": float(correct[where].mean()),
            "loss": float(nll[where].mean()), "sample_is_original": float((results["sampled"] == targets)[where].mean())}


def load_pretrainer(model_dir, special_ids):
    """The pre-trainer of `model_dir` with the weights of its newest checkpoint (every variable restored)."""
    path = tf.train.latest_checkpoint(model_dir)
    if not path or not tf.io.gfile.exists(os.path.join(model_dir, rundir.CONFIG_FILE)):
        raise FileNotFoundError(f"--model_dir {model_dir}: no pre-training run (no checkpoint beside "
                                f"{rundir.CONFIG_FILE})")
    config, discriminator_config = rundir.read_run_configs(model_dir)
    pretrainer = ElectraPretrainer(config, discriminator_config, special_ids)
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


def summarize(results, unigram, special_ids):
    """Every figure of the diagnosis as a dict (see the module docstring)."""
    ids, real = results["input_ids"], results["input_mask"] == 1
    not_special = real & ~np.isin(ids, [special_ids["cls"], special_ids["sep"]])
    summary = {"tokens": int(real.sum()), "rows": len(ids), "unigram_entropy": entropy(unigram),
               "fills": {name: fill_metrics(ids, real, not_special, results[f"{name}_ids"], results[f"{name}_logits"])
                         for name in FILLS}}
    weights = results["weights"] > 0
    at_mask = np.take_along_axis(results["masked_ids"], results["positions"], 1) == special_ids["mask"]
    summary["generator"] = {"[MASK]": generator_metrics(results, weights & at_mask),
                            "kept": generator_metrics(results, weights & ~at_mask)}
    sampled = results["sampled"][weights]
    marginal = np.bincount(sampled, minlength=len(unigram)) / len(sampled)
    labels = np.where(not_special, (results["generator_ids"] != ids).astype(np.float64), -1.0)
    summary["samples_kl_from_unigram"] = kl_divergence(marginal, unigram)
    summary["identity_only_auc"] = identity_only_auc(results["generator_ids"], labels, len(unigram),
                                                     labels[labels >= 0].mean())
    return summary


def report_lines(summary):
    """The diagnosis as printed: a table of the three fills, then the generator's figures."""
    lines = [f"{summary['tokens']} tokens in {summary['rows']} rows; unigram entropy "
             f"{summary['unigram_entropy']:.3f} nats",
             f"{'fill':10s} {'replaced':>8s} {'disc_loss':>9s} {'const':>6s} {'AUC':>6s} {'AUC w/o CLS/SEP':>15s}"]
    for name, fill in summary["fills"].items():
        lines.append(f"{name:10s} {fill['replaced']:8.3f} {fill['disc_loss']:9.4f} {fill['constant_loss']:6.4f} "
                     f"{fill['auc']:6.3f} {fill['auc_without_cls_sep']:15.3f}")
    for name, figures in summary["generator"].items():
        lines.append(f"generator at {name} positions: {figures['predictions']} predictions, "
                     f"accuracy {figures['accuracy']:.3f}, loss {figures['loss']:.3f} "
                     f"(unigram entropy {summary['unigram_entropy']:.3f}), "
                     f"sample = original {figures['sample_is_original']:.3f}")
    lines.append(f"generator samples: KL(marginal || unigram) {summary['samples_kl_from_unigram']:.3f} nats; "
                 f"token-identity-only AUC (w/o CLS/SEP) {summary['identity_only_auc']:.3f}")
    return lines


def diagnose(model_dir, data_dir, vocab_file=None, rows=1024, skip=0, unigram_rows=8000, seed=0):
    """`(checkpoint path, summary)` of the newest checkpoint of `model_dir` scored on the shards of `data_dir`."""
    if rows < BATCH or rows % BATCH:
        raise ValueError(f"--rows={rows}: must be a positive multiple of {BATCH}")
    if skip < 0 or unigram_rows < 1:
        raise ValueError(f"--skip={skip} must be at least 0 and --unigram_rows={unigram_rows} at least 1")
    flag = "--vocab" if vocab_file else "--data_dir (its vocab.txt; or pass --vocab)"
    try:
        vocab = load_vocab(vocab_file or os.path.join(data_dir, "vocab.txt"))
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{flag}: {error}") from error
    special_ids = special_token_ids(vocab)
    config, pretrainer, path = load_pretrainer(model_dir, special_ids)
    try:
        files = expand_globs(shard_files(data_dir))
    except FileNotFoundError as error:
        raise FileNotFoundError(f"--data_dir {data_dir}: no shards ({error})") from error
    records = tf.data.TFRecordDataset(files)
    counted = next(iter(records.batch(unigram_rows).map(lambda s: parse_examples(s, config.max_seq_length))))
    unigram = unigram_distribution(counted["input_ids"].numpy(), counted["input_mask"].numpy(),
                                   [special_ids["cls"], special_ids["sep"]], len(vocab))
    dataset = records.skip(skip).batch(BATCH, drop_remainder=True).take(rows // BATCH).map(
        lambda s: parse_examples(s, config.max_seq_length))
    results = score_batches(pretrainer, config, dataset, unigram, np.random.default_rng(seed))
    if not results:
        raise ValueError(f"--data_dir {data_dir}: fewer than {BATCH} records after --skip={skip}")
    return path, summarize(results, unigram, special_ids)


def define_flags():
    """Defines the command-line flags (only when run as a command, so importing defines nothing)."""
    flags.DEFINE_string("model_dir", None, "The pre-training run directory (its newest checkpoint is scored).")
    flags.DEFINE_string("data_dir", None, "The shards' directory.")
    flags.DEFINE_string("vocab", None, "vocab.txt; default: DATA_DIR/vocab.txt.")
    flags.DEFINE_integer("rows", 1024, f"Records scored (a multiple of {BATCH}).")
    flags.DEFINE_integer("skip", 0, "Records skipped first.")
    flags.DEFINE_integer("unigram_rows", 8000, "Records the unigram distribution is counted on.")
    flags.DEFINE_integer("seed", 0, "Seed of the unigram and uniform fills.")
    flags.mark_flags_as_required(["model_dir", "data_dir"])
    return flags.FLAGS


def main(argv):
    del argv
    values = flags.FLAGS
    path, summary = diagnose(values.model_dir, values.data_dir, values.vocab, values.rows, values.skip,
                             values.unigram_rows, values.seed)
    print(f"checkpoint {path}")
    print("\n".join(report_lines(summary)))


if __name__ == "__main__":
    define_flags()
    cli.run(main)
