"""Fine-tuning trials (`--num_trials` / `--seeds`) and their comparison (`finetuning.compare`): the statistics
against hand computations, and the trial-by-trial resume (a finished trial is skipped, an interrupted one runs)."""

import csv
import itertools
import json
import math
import os
import statistics

import numpy as np
import pytest
from support import write_topic_splits

from electra_tf.finetuning import compare, trials
from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.run import finetune
from electra_tf.finetuning.tasks import get_task

SCORES = [0.70, 0.74, 0.72, 0.75, 0.66]


def test_parse_seeds():
    assert trials.parse_seeds(3, None, 42) == [42, 43, 44]
    assert trials.parse_seeds(None, "5, 1,3") == [5, 1, 3]
    assert trials.parse_seeds(None, None) is None
    for num_trials, seeds in ((0, None), (None, "1,1"), (None, "a"), (2, "1,2")):
        with pytest.raises(ValueError, match="--num_trials|--seeds"):
            trials.parse_seeds(num_trials, seeds)


def test_describe_matches_a_hand_computation():
    found = trials.describe(SCORES)
    mean = sum(SCORES) / len(SCORES)
    sd = math.sqrt(sum((value - mean) ** 2 for value in SCORES) / (len(SCORES) - 1))
    expected = {"median": sorted(SCORES)[2], "mean": mean, "sd": sd, "min": min(SCORES), "max": max(SCORES)}
    assert max(abs(found[key] - value) for key, value in expected.items()) < 1e-12
    assert trials.describe([0.5])["sd"] == 0.0


def _exact_median_quantile(values, probability):
    """The `probability` quantile of the median of len(values) draws with replacement, by enumerating every
    equally likely resample (the exact bootstrap distribution)."""
    medians = sorted(statistics.median(draw) for draw in itertools.product(values, repeat=len(values)))
    return medians[min(len(medians) - 1, math.ceil(probability * len(medians)) - 1)]


def test_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    differences = [0.012, -0.004, 0.020, 0.007, 0.015]
    low, high = compare.bootstrap_interval(differences)
    # Monte Carlo quantiles of 10,000 resamples lie between the exact ones a little inside and outside
    assert _exact_median_quantile(differences, 0.015) <= low <= _exact_median_quantile(differences, 0.035)
    assert _exact_median_quantile(differences, 0.965) <= high <= _exact_median_quantile(differences, 0.985)
    assert compare.bootstrap_interval(differences) == (low, high)  # fixed RNG seed


def _two_sided_sign_p(positive, negative):
    n, k = positive + negative, min(positive, negative)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def test_sign_test_matches_the_binomial_sum():
    for differences in ([1, 2, 3, 4, 5, 6, 7], [1, -1, 2, 0, 3, 4, -2, 5], [0.1, -0.2, 0.3]):
        positive, negative, p_value = compare.sign_test(differences)
        assert (positive, negative) == (sum(d > 0 for d in differences), sum(d < 0 for d in differences))
        assert abs(p_value - _two_sided_sign_p(positive, negative)) < 1e-12
    assert compare.sign_test([0.0, 0.0]) == (0, 0, 1.0)


def _record(seed, accuracy):
    return {"seed": seed, "best_epoch": 1, "dev": {"accuracy": accuracy}, "test": {"accuracy": accuracy}}


def test_compare_pairs_by_seed_and_says_whether_a_and_b_differ():
    base = [0.80, 0.78, 0.81, 0.79, 0.82, 0.80, 0.77]
    gains = [0.012, 0.020, 0.007, 0.015, 0.011, 0.009, 0.018]
    trials_b = {seed: _record(seed, score) for seed, score in enumerate(base, start=1)}
    trials_a = {seed: _record(seed, score + gain) for seed, (score, gain) in enumerate(zip(base, gains), start=1)}
    trials_a[99] = _record(99, 0.5)  # unpaired: left out
    result = compare.compare(trials_a, trials_b, "test", "accuracy")
    assert result["seeds"] == list(range(1, 8))
    assert abs(result["median_difference"] - float(np.median(gains))) < 1e-12
    assert result["distinguishable"] and "are distinguishable" in compare.verdict(result)
    noisy = {seed: _record(seed, score + (0.01 if seed % 2 else -0.01)) for seed, score in enumerate(base, start=1)}
    result = compare.compare(noisy, trials_b, "test", "accuracy")
    assert not result["distinguishable"] and "not distinguishable" in compare.verdict(result)
    text = compare.report(result, "A", "B", {99})
    assert "seed 1: +0.0100" in text and "10000 resamples" in text and "left out: 99" in text


# --- the trials of real (tiny) runs ---------------------------------------------------------------------------

HPARAMS = {"max_seq_length": 16, "train_batch_size": 16, "eval_batch_size": 64, "num_train_epochs": 1,
           "learning_rate": 1e-3, "log_steps": 1000}


@pytest.mark.slow
def test_trials_run_into_their_own_directories_and_resume_trial_by_trial(tmp_path, init_checkpoint):
    data_dir = write_topic_splits(tmp_path, 48, stride=5)
    task = get_task("text_classification", text_column="sentence", label_column="topic", id_column="id")
    hparams = load_hparams(None, None, HPARAMS)
    output_dir = str(tmp_path / "trials")
    ran = []

    def run_one(trial_hparams, trial_dir, interrupt_at=None):
        ran.append(trial_hparams.seed)
        if trial_hparams.seed == interrupt_at:
            raise KeyboardInterrupt  # as a killed run: no marker written
        return finetune(task, trial_hparams, init_checkpoint, data_dir, trial_dir, progress=False, export=False)

    with pytest.raises(KeyboardInterrupt):
        trials.run_trials([7, 8], hparams, output_dir, lambda h, d: run_one(h, d, interrupt_at=8), task.name,
                          task.metric)
    summary = trials.run_trials([7, 8, 9], hparams, output_dir, run_one, task.name, task.metric)
    assert ran == [7, 8, 8, 9]  # seed 7 finished before the interruption: skipped on the re-run

    scores = []
    for seed in (7, 8, 9):
        with open(os.path.join(output_dir, f"trial_seed{seed}", "eval_results.json"), encoding="utf-8") as handle:
            results = json.load(handle)
        assert results["hparams"]["seed"] == seed
        scores.append(results["test"]["accuracy"])
    with open(os.path.join(output_dir, "eval_results.json"), encoding="utf-8") as handle:
        written = json.load(handle)
    assert written["test"]["accuracy"] == summary["test"]["accuracy"] == float(np.median(scores))
    assert abs(written["summary"]["test"]["accuracy"]["sd"] - statistics.stdev(scores)) < 1e-12
    assert [record["seed"] for record in written["trials"]] == [7, 8, 9]
    with open(os.path.join(output_dir, "trials.tsv"), encoding="utf-8") as handle:
        table = list(csv.reader(handle, delimiter="\t"))
    assert [row[0] for row in table] == ["trial", "seed7", "seed8", "seed9", *trials.STATISTICS]
    median_row = table[1 + 3 + trials.STATISTICS.index("median")]
    assert abs(float(median_row[table[0].index("test_accuracy")]) - float(np.median(scores))) < 1e-5
    with open(os.path.join(output_dir, "trials.png"), "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"

    # compare reads the directories back; a directory against itself: every difference 0, not distinguishable
    result, text = compare.compare_directories(output_dir, output_dir)
    assert "not distinguishable" in text
    assert result["differences"] == [0.0, 0.0, 0.0] and not result["distinguishable"]


def test_a_trials_summary_reads_as_one_run_for_the_checkpoint_series_and_recipes(tmp_path):
    from electra_tf.finetuning import checkpoint_series

    records = [_record(seed, score) for seed, score in enumerate(SCORES, start=1)]
    results = trials.write_summary(str(tmp_path), records, "nsmc", "accuracy", {})
    row = checkpoint_series.score_row(100, results)
    assert row["test_accuracy"] == row["dev_accuracy"] == sorted(SCORES)[2]


def _png_width(path):
    with open(path, "rb") as handle:
        return int.from_bytes(handle.read(24)[16:20], "big")  # the IHDR chunk's width


def test_trials_png_draws_a_dev_panel_equal_to_the_test_one_once(tmp_path):
    same = [_record(seed, score) for seed, score in [(1, 0.8), (2, 0.7)]]  # NSMC: the dev file is the test file
    differ = [dict(record, test={"accuracy": record["dev"]["accuracy"] - 0.01}) for record in same]
    widths = {}
    for label, records in (("same", same), ("differ", differ)):
        summary = trials.summarize(records)
        trials.plot_trials(str(tmp_path / f"{label}.png"), records, summary)
        widths[label] = _png_width(str(tmp_path / f"{label}.png"))
        titles = [title for _, _, title in trials.plot_panels(records, summary)]
        assert titles == (["dev = test accuracy"] if label == "same" else ["dev accuracy", "test accuracy"])
    assert 1.5 < widths["differ"] / widths["same"] < 2.2  # one panel instead of two (same margins)
