"""TFDS builders read the manual_dir with the task readers: same splits, same rows."""

import pytest
import tensorflow_datasets as tfds
from support import fixture_dir

from electra_tf.finetuning import tfds_builders
from electra_tf.finetuning.tasks import BENCHMARK_TASKS, get_task


def _prepare(task_name, tmp_path):
    builder = tfds_builders.BUILDERS[task_name](data_dir=str(tmp_path))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=fixture_dir(task_name)))
    return builder


def test_every_benchmark_task_has_a_registered_builder():
    assert sorted(tfds_builders.BUILDERS) == sorted(BENCHMARK_TASKS)
    registered = set(tfds.list_builders())
    for builder in tfds_builders.BUILDERS.values():
        assert builder.name in registered
        assert "manual_dir" in builder.MANUAL_DOWNLOAD_INSTRUCTIONS


@pytest.mark.parametrize("task_name", BENCHMARK_TASKS)
def test_builder_yields_the_reader_rows(task_name, tmp_path):
    builder = _prepare(task_name, tmp_path)
    task = get_task(task_name)
    splits = {"train": "train", "validation": "dev", "test": "test"}
    assert "train" in builder.info.splits
    for tfds_split, ours in splits.items():
        if tfds_split not in builder.info.splits:
            continue
        expected = task.read(fixture_dir(task_name), ours).examples
        rows = sorted(tfds.as_numpy(builder.as_dataset(split=tfds_split)), key=lambda row: row["id"])
        expected = sorted(expected, key=lambda e: getattr(e, "guid", None) or e.qid)
        assert len(rows) == len(expected)
        row, example = rows[0], expected[0]
        if task_name == "naver-ner":
            assert [t.decode() for t in row["tokens"]] == example.words
            assert list(row["tags"]) == example.labels
        elif task_name == "korquad":
            assert row["question"].decode() == example.question
            assert [t.decode() for t in row["answers"]["text"]] == [t for t, _ in example.answers]
            assert list(row["answers"]["answer_start"]) == [s for _, s in example.answers]
        elif task_name == "korsts":
            assert row["score"] == pytest.approx(example.label)
            assert row["sentence1"].decode() == example.text_a
        elif "sentence1" in row:
            assert (row["sentence1"].decode(), row["sentence2"].decode(), row["label"]) == (
                example.text_a, example.text_b, example.label)
        else:
            assert (row["text"].decode(), row["label"]) == (example.text_a, example.label)
