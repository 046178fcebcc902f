"""The pre-training reader: per-pipeline sharding, per-replica batches, static int32 shapes."""

import numpy as np
import pytest
import tensorflow as tf

from electra_tf.data.pretraining_dataset import make_pretraining_input_fn, pretraining_dataset
from electra_tf.io_utils import write_json

LENGTH = 8


def write_shards(directory, num_files, per_file):
    """Example k (counted over all files) has input_ids [k, k, ...]; returns the glob."""
    for file_index in range(num_files):
        with tf.io.TFRecordWriter(str(directory / f"data.tfrecord-{file_index}")) as writer:
            for row in range(per_file):
                k = file_index * per_file + row
                features = {"input_ids": [k] * LENGTH, "input_mask": [1] * (LENGTH - 2) + [0, 0],
                            "segment_ids": [0] * 3 + [1] * (LENGTH - 3)}
                example = tf.train.Example(features=tf.train.Features(feature={
                    name: tf.train.Feature(int64_list=tf.train.Int64List(value=values))
                    for name, values in features.items()}))
                writer.write(example.SerializeToString())
    return str(directory / "*.tfrecord*")


def example_ids(dataset):
    return [int(ids[0]) for batch in dataset for ids in batch["input_ids"].numpy()]


def context(pipelines, pipeline_id, replicas):
    return tf.distribute.InputContext(pipelines, pipeline_id, replicas)


def test_eval_reads_every_example_once_with_int32_static_shapes(tmp_path):
    pattern = write_shards(tmp_path, 3, 5)
    dataset = pretraining_dataset(pattern, LENGTH, 4, is_training=False, drop_remainder=False)
    assert sorted(example_ids(dataset)) == list(range(15))
    batch = next(iter(pretraining_dataset(pattern, LENGTH, 4, is_training=False)))
    assert set(batch) == {"input_ids", "input_mask", "segment_ids"}
    for value in batch.values():
        assert value.dtype == tf.int32 and value.shape == (4, LENGTH)
    assert batch["segment_ids"].numpy()[0].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    spec = pretraining_dataset(pattern, LENGTH, 4, is_training=True).element_spec
    assert spec["input_ids"].shape == (4, LENGTH)  # drop_remainder: static batch dimension


@pytest.mark.parametrize("num_files", [4, 1])  # sharded by file, then by record (fewer files than pipelines)
def test_pipelines_read_disjoint_parts_with_per_replica_batches(tmp_path, num_files):
    pattern = write_shards(tmp_path, num_files, 24 // num_files)
    seen = []
    for pipeline in range(2):
        dataset = pretraining_dataset(pattern, LENGTH, 8, is_training=False, input_context=context(2, pipeline, 4))
        assert dataset.element_spec["input_ids"].shape == (2, LENGTH)  # 8 global / 4 replicas
        seen.append(example_ids(dataset))
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(24))


def test_training_repeats_and_shuffles_reproducibly_with_a_seed(tmp_path):
    pattern = write_shards(tmp_path, 3, 4)
    fn = make_pretraining_input_fn(pattern, LENGTH, 4, is_training=True, seed=3, shuffle_buffer_size=100)
    first = example_ids(fn(context(1, 0, 1)).take(9))  # 36 examples > 12: repeats
    assert len(first) == 36 and set(first) <= set(range(12)) and len(set(first)) < 36
    assert first[:12] != sorted(first[:12])
    assert example_ids(fn(context(1, 0, 1)).take(9)) == first


def test_distribute_datasets_from_function(tmp_path):
    pattern = write_shards(tmp_path, 2, 4)
    strategy = tf.distribute.get_strategy()
    dataset = strategy.distribute_datasets_from_function(make_pretraining_input_fn(pattern, LENGTH, 2, seed=0))
    batch = next(iter(dataset))
    assert batch["input_mask"].shape == (2, LENGTH) and batch["input_mask"].dtype == tf.int32


def test_errors_name_the_problem(tmp_path):
    pattern = write_shards(tmp_path, 1, 2)
    write_json(str(tmp_path / "stats.json"), {"max_seq_length": LENGTH})
    with pytest.raises(ValueError, match="built with max_seq_length=8"):
        pretraining_dataset(pattern, 16, 2)
    with pytest.raises(FileNotFoundError, match="nope"):
        pretraining_dataset(str(tmp_path / "nope*"), LENGTH, 2)
    with pytest.raises(ValueError, match="divisible"):
        pretraining_dataset(pattern, LENGTH, 6, input_context=context(1, 0, 4))
    np.testing.assert_array_equal(  # right length passes
        next(iter(pretraining_dataset(pattern, LENGTH, 2, is_training=False)))["input_mask"].numpy().sum(1), [6, 6])
