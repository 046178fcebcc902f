"""The pure parts of bench/bench_finetuning_real.py: data cuts, the transformers side's dynamic padding, the table."""

import os

import numpy as np
import pytest

from bench import bench_finetuning_real as real


def test_tsv_input_becomes_an_nsmc_directory_cut_to_the_first_rows(tmp_path):
    train, test = tmp_path / "train.tsv", tmp_path / "test.tsv"
    train.write_text("text\tlabel\n좋아요\t1\n별로\t0\n최고\t1\n", encoding="utf-8")
    test.write_text("재밌다\t1\n", encoding="utf-8")
    args = real.parse_args(["--train", str(train), "--test", str(test), "--train_rows", "2"])
    data_dir = real.prepare_data(args, str(tmp_path / "work"))
    assert real.read_nsmc(os.path.join(data_dir, real.TRAIN_FILE)) == [("좋아요", "1"), ("별로", "0")]
    assert real.read_nsmc(os.path.join(data_dir, real.TEST_FILE)) == [("재밌다", "1")]


def test_a_bad_row_names_file_and_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("좋아요\t1\n별로\tbad\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"train.tsv:2: unknown label 'bad'"):
        real.read_tsv(str(path))
    nsmc = tmp_path / "ratings_train.txt"
    nsmc.write_text("id\tdocument\tlabel\n1\t좋아요\t1\n2\t별로\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ratings_train.txt:3: expected 3 columns, found 2"):
        real.read_nsmc(str(nsmc))
    with pytest.raises(SystemExit, match=r"^error: .*train.tsv:2: unknown label 'bad'"):
        real.main(["--train", str(path), "--test", str(path), "--train_rows", "1", "--work_dir",
                   str(tmp_path / "work")])


def test_dynamic_batches_are_cut_to_their_longest_row_and_keep_the_rows():
    lengths = np.array([3, 7, 2, 5, 4])
    mask = (np.arange(8)[None, :] < lengths[:, None]).astype(np.int32)
    inputs = {"input_ids": (np.arange(40).reshape(5, 8) + 1) * mask, "attention_mask": mask,
              "token_type_ids": np.zeros_like(mask)}
    labels = np.arange(5, dtype=np.int32)
    order = np.array([4, 2, 0, 1, 3])
    batches = list(real._batches(inputs, labels, order, 2, dynamic=True))
    assert [batch[0]["input_ids"].shape[1] for batch in batches] == [4, 7, 5]
    ids = np.concatenate([np.pad(b[0]["input_ids"].numpy(), ((0, 0), (0, 8 - b[0]["input_ids"].shape[1])))
                          for b in batches])
    np.testing.assert_array_equal(ids, inputs["input_ids"][order])
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), labels[order])
    padded = list(real._batches(inputs, labels, order, 2, dynamic=False))
    assert {batch[0]["input_ids"].shape[1] for batch in padded} == {8}


def test_table_ratios_are_against_transformers_dynamic_padding():
    summary = {real.REFERENCE: {"train_seconds": 100.0, "predict_seconds": 10.0, "accuracy": 0.80},
               "electra_tf, bucket_width 16": {"train_seconds": 40.0, "predict_seconds": 2.5, "accuracy": 0.797},
               "electra_tf, bucket_width 16, jit_compile": None}
    rows = {row["system"]: row for row in real.table_rows(summary)}
    ours = rows["electra_tf, bucket_width 16"]
    assert ours["train speed-up vs dynamic"] == "2.50x"
    assert ours["predict speed-up vs dynamic"] == "4.00x"
    assert ours["accuracy Δ vs dynamic"] == "-0.30 pt"
    assert rows["electra_tf, bucket_width 16, jit_compile"]["train s"] == "failed"


def test_summary_takes_medians_of_the_rounds_that_succeeded():
    runs = {"a": [{"train_seconds": 3.0, "predict_seconds": 1.0, "accuracy": 0.5}, {"error": "boom"},
                  {"train_seconds": 1.0, "predict_seconds": 3.0, "accuracy": 0.7},
                  {"train_seconds": 2.0, "predict_seconds": 2.0, "accuracy": 0.6}],
            "b": [{"error": "boom"}]}
    summary = real.summarize(runs)
    assert summary["a"] == {"train_seconds": 2.0, "predict_seconds": 2.0, "accuracy": 0.6, "rounds": 3}
    assert summary["b"] is None


def test_systems_name_each_bucket_width_and_jit_variant():
    assert list(real.ours_systems([16, 0], True)) == [
        "electra_tf, bucket_width 16", "electra_tf, bucket_width 16, jit_compile",
        "electra_tf, bucket_width 0", "electra_tf, bucket_width 0, jit_compile"]
    assert real.ours_systems([None], False) == {"electra_tf": (None, False)}
