"""`demo_seeds`' held-out pair is the test file's first positive and first negative row, and its summary counts a
run as right only when both texts of a pair carry the expected labels."""

import csv

from experiments.demo_seeds import held_out_pair, table, with_output_dir


def test_held_out_pair_is_the_first_positive_then_the_first_negative_test_row():
    with open("data/sample_nsmc/ratings_test.txt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    first = {label: next(row["document"] for row in rows if row["label"] == label) for label in ("1", "0")}
    assert held_out_pair("data/sample_nsmc") == [(first["1"], "1"), (first["0"], "0")]


def test_output_dir_is_replaced_and_nothing_else():
    command = ["python", "-m", "electra_tf.finetuning", "--output_dir=old", "--hparams={}"]
    assert with_output_dir(command, "new") == ["python", "-m", "electra_tf.finetuning", "--output_dir=new",
                                               "--hparams={}", "--noprogress"]


def test_the_summary_counts_seeds_with_both_labels_right():
    def record(seed, accuracy, labels):
        return {"seed": seed, "accuracy": accuracy, "best_epoch": 1, "labels": labels, "positive": [0.5] * 4,
                "wall_seconds": 10.0, "cpu_seconds": 20.0}

    runs = {"a": [record(1, 0.9, ["1", "0", "1", "0"]), record(2, 1.0, ["0", "0", "1", "0"]),
                  record(3, 0.8, ["1", "0", "1", "1"])]}
    summary = table(runs, ["1", "0", "1", "0"]).splitlines()[-1]
    assert summary == "| a | 3 | 0.900 (0.80–1.00) | 2 of 3 | 2 of 3 | 10 | 20 |"
