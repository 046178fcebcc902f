"""Are two fine-tuning settings distinguishable? Compares two trials directories (`--num_trials` / `--seeds`).

    python -m electra_tf.finetuning.compare DIR_A DIR_B [--metric accuracy] [--split test]

Trials are paired by seed (the same seed is the same data order and head init in both), and the per-seed
differences A − B are summarized by their median, a bootstrap confidence interval of that median (`RESAMPLES`
resamples of the seeds with replacement, a fixed RNG seed, so a re-run prints the same interval) and a two-sided
sign test (`scipy.stats.binomtest` on the positive against the negative differences; ties left out). A and B are
called distinguishable when the interval excludes 0 and the sign test's p is below `ALPHA`.
"""

import numpy as np
from absl import flags

from electra_tf import cli

from electra_tf.finetuning.trials import read_trials

RESAMPLES = 10000
BOOTSTRAP_SEED = 0
ALPHA = 0.05
LEVEL = 0.95


def paired_differences(trials_a, trials_b, split, metric):
    """(seeds, A − B per seed) over the seeds both have `split`'s `metric` for, in seed order."""
    seeds = sorted(seed for seed in set(trials_a) & set(trials_b)
                   if metric in trials_a[seed][split] and metric in trials_b[seed][split])
    return seeds, np.array([trials_a[seed][split][metric] - trials_b[seed][split][metric] for seed in seeds])


def bootstrap_interval(differences, resamples=RESAMPLES, level=LEVEL, seed=BOOTSTRAP_SEED):
    """The percentile bootstrap interval of the median difference: `resamples` draws of len(differences) values
    with replacement (numpy's default_rng(seed)), the (1 − level) / 2 and (1 + level) / 2 quantiles of their
    medians."""
    differences = np.asarray(differences, np.float64)
    draws = np.random.default_rng(seed).integers(0, len(differences), size=(resamples, len(differences)))
    medians = np.median(differences[draws], axis=1)
    return float(np.quantile(medians, (1 - level) / 2)), float(np.quantile(medians, (1 + level) / 2))


def sign_test(differences):
    """(positive count, negative count, two-sided p) of the sign test; p is 1.0 when every difference is 0."""
    from scipy.stats import binomtest

    positive, negative = int(np.sum(np.asarray(differences) > 0)), int(np.sum(np.asarray(differences) < 0))
    if positive + negative == 0:
        return positive, negative, 1.0
    return positive, negative, float(binomtest(positive, positive + negative, 0.5).pvalue)


def compare(trials_a, trials_b, split, metric):
    """The comparison of two {seed: trial record} mappings on `split`'s `metric`: a dict with the seeds, the
    differences, their median, the interval, the sign test and the verdict."""
    seeds, differences = paired_differences(trials_a, trials_b, split, metric)
    if not seeds:
        raise ValueError(f"no seed has {split} {metric} in both directories")
    low, high = bootstrap_interval(differences)
    positive, negative, p_value = sign_test(differences)
    distinguishable = (low > 0 or high < 0) and p_value < ALPHA
    return {"split": split, "metric": metric, "seeds": seeds, "differences": differences.tolist(),
            "median_difference": float(np.median(differences)), "interval": (low, high),
            "positive": positive, "negative": negative, "p_value": p_value, "distinguishable": distinguishable}


def verdict(result, name_a="A", name_b="B"):
    """The comparison in words."""
    n, p_value = len(result["seeds"]), result["p_value"]
    low, high = result["interval"]
    what = f"{result['split']} {result['metric']}"
    if result["distinguishable"]:
        better = name_a if result["median_difference"] > 0 else name_b
        return (f"{name_a} and {name_b} are distinguishable on {what}: {better} is higher (the {LEVEL:.0%} interval "
                f"[{low:+.4f}, {high:+.4f}] excludes 0 and the sign test's p = {p_value:.3g} < {ALPHA}).")
    reasons = []
    if low <= 0 <= high:
        reasons.append(f"the {LEVEL:.0%} interval [{low:+.4f}, {high:+.4f}] includes 0")
    if p_value >= ALPHA:
        reasons.append(f"the sign test's p = {p_value:.3g} is not below {ALPHA}"
                       + (f" (with {n} seeds it cannot be: use at least 6)" if 0.5 ** (n - 1) >= ALPHA else ""))
    return f"{name_a} and {name_b} are not distinguishable on {what}: {'; '.join(reasons)}."


def report(result, name_a, name_b, unpaired=()):
    """The printed comparison: one line per seed, the median, the interval, the sign test, the verdict."""
    lines = [f"A = {name_a}", f"B = {name_b}", f"{result['split']} {result['metric']}, A − B per seed:"]
    lines += [f"  seed {seed}: {difference:+.4f}" for seed, difference in zip(result["seeds"], result["differences"])]
    if unpaired:
        lines.append(f"  (seeds in one directory only, left out: {', '.join(map(str, sorted(unpaired)))})")
    low, high = result["interval"]
    lines += [f"median difference: {result['median_difference']:+.4f} over {len(result['seeds'])} seeds",
              f"bootstrap {LEVEL:.0%} interval of the median: [{low:+.4f}, {high:+.4f}] "
              f"({RESAMPLES} resamples, RNG seed {BOOTSTRAP_SEED})",
              f"sign test: {result['positive']} higher, {result['negative']} lower, two-sided p = "
              f"{result['p_value']:.4g}",
              verdict(result)]
    return "\n".join(lines)


FLAGS = flags.FLAGS


def define_flags():
    """Defines this command's flags (only when it runs as a program, so importing it defines none)."""
    flags.DEFINE_string("metric", None, "Metric to compare (default: the task's metric).")
    flags.DEFINE_enum("split", None, ["test", "dev"], "Split to compare (default: test when the trials have it, "
                      "else dev).")


def compare_directories(dir_a, dir_b, metric=None, split=None):
    """Reads two trials directories and compares them (see `compare`); returns `(result, printed report)`."""
    results_a, trials_a = read_trials(dir_a)
    _, trials_b = read_trials(dir_b)
    metric = metric or results_a.get("metric")
    split = split or ("test" if any(record["test"] for record in trials_a.values()) else "dev")
    result = compare(trials_a, trials_b, split, metric)
    return result, report(result, dir_a, dir_b, set(trials_a) ^ set(trials_b))


def main(argv):
    if len(argv) != 3:
        raise ValueError("usage: python -m electra_tf.finetuning.compare DIR_A DIR_B [--metric M] [--split S]")
    print(compare_directories(argv[1], argv[2], FLAGS.metric, FLAGS.split)[1])


if __name__ == "__main__":
    define_flags()
    cli.run(main, positional=2)
