"""`tf.data` reader of pre-training TFRecords (``input_ids``, ``input_mask``, ``segment_ids``), for TPU and
multi-worker training.

Per input pipeline (`tf.distribute.InputContext`): files are listed in sorted order and sharded by pipeline
(by record when there are fewer files than pipelines), shuffled, repeated, interleaved, shuffled again by
record, batched to the per-replica batch size with ``drop_remainder`` (static shapes for XLA/TPU), parsed
and cast to int32. Use `make_pretraining_input_fn` with `strategy.distribute_datasets_from_function`.

Resume: with a seed the order is a pure function of the seed, so a run resumed at step s skips the first
``s * num_replicas_in_sync / num_input_pipelines`` batches of each pipeline (`start_step`), on the serialized
records before parsing. Measured: about 27,000 records/s (128-token records, 8 local shards of 25,000,
shuffle buffer 10,000, on a 2-core CPU container shared with other jobs): 5.9 s to reach step 5,000 of batch
32. A resume at step 100,000 of batch 256 would read 25.6 M records (about 16 min at that rate; a TPU host's
many cores read faster). The alternative, checkpointing the tf.data iterator, stores each pipeline's shuffle
buffer (10,000 records) in every checkpoint and is not supported by every input pipeline.
"""

import os

import tensorflow as tf

from electra_tf.data.schema import FEATURE_NAMES, read_stats, stats_path, vocab_sha256
from electra_tf.tokenization import WORDPIECE, vocab_kind
from electra_tf.io_utils import expand_globs


def _check_max_seq_length(files, max_seq_length):
    """Compares with the ``stats.json`` written beside the shards, when there is one."""
    directory = os.path.dirname(files[0])
    built = (read_stats(directory) or {}).get("max_seq_length")
    if built is not None and int(built) != int(max_seq_length):
        raise ValueError(f"max_seq_length={max_seq_length} but the shards in {directory} "
                         f"were built with max_seq_length={built} (see {stats_path(directory)})")


def check_shards(file_pattern, max_seq_length, vocab_file, vocab_size):
    """Checks the shards against the run before anything is written: ``stats.json``'s ``max_seq_length``,
    ``vocab_size``, ``vocab_sha256`` and ``vocab_kind`` (when recorded); without ``stats.json``, the first
    record's length and ids. Raises ValueError naming both values and where they come from."""
    files = expand_globs(file_pattern)
    directory = os.path.dirname(files[0])
    stats = read_stats(directory)
    if stats is None:
        _check_first_record(files[0], max_seq_length, vocab_file, vocab_size)
        return
    _check_max_seq_length(files, max_seq_length)
    if "vocab_size" in stats and int(stats["vocab_size"]) != int(vocab_size):
        raise ValueError(f"the vocabulary {vocab_file} has {vocab_size} tokens but the shards were built with "
                         f"vocab_size={stats['vocab_size']} (see {stats_path(directory)})")
    if "vocab_sha256" in stats and stats["vocab_sha256"] != vocab_sha256(vocab_file):
        raise ValueError(f"the vocabulary {vocab_file} (sha256 {vocab_sha256(vocab_file)}) is not the one the "
                         f"shards were built with (vocab_sha256={stats['vocab_sha256']} in {stats_path(directory)})")
    built_kind, kind = stats.get("vocab_kind", WORDPIECE), vocab_kind(vocab_file)
    if built_kind != kind:
        raise ValueError(f"the vocabulary {vocab_file} is {kind} but the shards were built with a {built_kind} "
                         f"vocabulary (vocab_kind in {stats_path(directory)})")


def _check_first_record(path, max_seq_length, vocab_file, vocab_size):
    for serialized in tf.data.TFRecordDataset(path).take(1):
        example = tf.train.Example.FromString(serialized.numpy())
        ids = list(example.features.feature["input_ids"].int64_list.value)
        if len(ids) != int(max_seq_length):
            raise ValueError(f"max_seq_length={max_seq_length} but the first record of {path} has "
                             f"{len(ids)} input_ids")
        if ids and max(ids) >= int(vocab_size):
            raise ValueError(f"the first record of {path} holds token id {max(ids)}, outside the "
                             f"{vocab_size}-token vocabulary {vocab_file}")


def parse_examples(serialized, max_seq_length):
    """Parses a batch of serialized examples into int32 ``[batch, max_seq_length]`` features."""
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in FEATURE_NAMES}
    parsed = tf.io.parse_example(serialized, spec)
    return {name: tf.cast(parsed[name], tf.int32) for name in FEATURE_NAMES}


def pretraining_dataset(file_pattern, max_seq_length, batch_size, is_training=True, seed=None, input_context=None,
                        shuffle_buffer_size=10000, cycle_length=8, drop_remainder=True, start_step=0):
    """The batched dataset of one input pipeline.

    Args:
      file_pattern: a file, glob or list of them (local or ``gs://``).
      max_seq_length: the length the shards were built with (checked against their ``stats.json``).
      batch_size: the global batch size; with `input_context`, divided into the per-replica batch size.
      is_training: shuffle and repeat forever; otherwise one pass in file order.
      seed: seed of the shuffles; with a seed the order is reproducible (None: different every run, and
        files are read in whatever order is fastest).
      input_context: the `tf.distribute.InputContext` given by `distribute_datasets_from_function`.
      drop_remainder: keep every batch full (static shapes; needed on TPU).
      start_step: the global step to start at (resume): skips the batches of the earlier steps. Only
        meaningful with a seed.
    Returns:
      a `tf.data.Dataset` of dicts of int32 ``[batch, max_seq_length]`` tensors.
    """
    files = expand_globs(file_pattern)
    _check_max_seq_length(files, max_seq_length)
    num_pipelines, pipeline_id, batches_per_step = 1, 0, 1
    if input_context is not None:
        num_pipelines, pipeline_id = input_context.num_input_pipelines, input_context.input_pipeline_id
        batches_per_step = input_context.num_replicas_in_sync // num_pipelines
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    shard_by_file = len(files) >= num_pipelines
    # Order is kept with a seed (reproducible runs) and when sharding by record (same order in every pipeline).
    deterministic = not is_training or seed is not None or not shard_by_file

    dataset = tf.data.Dataset.from_tensor_slices(files)
    if num_pipelines > 1 and shard_by_file:
        dataset = dataset.shard(num_pipelines, pipeline_id)
    if is_training:
        # Sharding by record also needs the same file order: shuffle files then only with a seed.
        if shard_by_file or seed is not None:
            dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.repeat()
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=max(1, min(cycle_length, len(files))),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if num_pipelines > 1 and not shard_by_file:
        dataset = dataset.shard(num_pipelines, pipeline_id)
    if is_training:
        record_seed = None if seed is None else seed + pipeline_id
        dataset = dataset.shuffle(shuffle_buffer_size, seed=record_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if start_step:
        dataset = dataset.skip(int(start_step) * batches_per_step)
    dataset = dataset.map(lambda serialized: parse_examples(serialized, max_seq_length),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    dataset = dataset.with_options(options)
    return dataset.prefetch(tf.data.AUTOTUNE)


def make_pretraining_input_fn(file_pattern, max_seq_length, global_batch_size, is_training=True, seed=None,
                              **kwargs):
    """A ``dataset_fn(input_context)`` for `strategy.distribute_datasets_from_function`: each replica gets
    ``global_batch_size / num_replicas_in_sync`` examples per step; ``dataset_fn(input_context, start_step)``
    starts at a global step (resume). `kwargs` go to `pretraining_dataset`."""

    def dataset_fn(input_context, start_step=0):
        return pretraining_dataset(file_pattern, max_seq_length, global_batch_size, is_training=is_training,
                                   seed=seed, input_context=input_context, start_step=start_step, **kwargs)

    return dataset_fn
