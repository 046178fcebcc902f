"""The pre-training record schema shared by the corpus writer and the reader.

Shards are ``pretrain_data.tfrecord-SSSSS-of-NNNNN`` files of ``tf.train.Example`` records with int64 features
``input_ids``, ``input_mask`` and ``segment_ids`` of length ``max_seq_length`` (the names and layout of
google-research/electra); ``stats.json`` beside them records how they were built, including ``vocab_size`` and
``vocab_sha256`` (the checksum of the vocab file's bytes) that the pre-training CLI compares with its vocabulary.
"""

import hashlib
import os

import tensorflow as tf

from electra_tf.io_utils import read_json, write_json

FEATURE_NAMES = ("input_ids", "input_mask", "segment_ids")
SHARD_PREFIX = "pretrain_data.tfrecord"
SHARD_GLOB = "*.tfrecord*"  # what the reader takes from a data directory: ours and other TFRecord shards
STATS_FILE = "stats.json"
HELDOUT_DIR = "heldout"  # DATA_DIR/heldout/: the shards the corpus builder set aside (--heldout_shards)


def shard_name(index, num_shards):
    """``pretrain_data.tfrecord-SSSSS-of-NNNNN``."""
    return f"{SHARD_PREFIX}-{index:05d}-of-{num_shards:05d}"


def shard_files(directory):
    """The glob of the shards in `directory` (for `pretraining_dataset`)."""
    return os.path.join(directory, SHARD_GLOB)


def our_shards(directory):
    """The files of `directory` named like shards this schema writes."""
    return tf.io.gfile.glob(os.path.join(directory, SHARD_PREFIX + "-*"))


def stats_path(directory):
    return os.path.join(directory, STATS_FILE)


def write_stats(directory, stats):
    """Writes ``stats.json`` into `directory`, atomically."""
    write_json(stats_path(directory), stats)


def read_stats(directory):
    """The ``stats.json`` of `directory` as a dict, or None when there is none."""
    path = stats_path(directory)
    return read_json(path) if tf.io.gfile.exists(path) else None


def heldout_dir(directory):
    """`directory`/heldout when the corpus builder set held-out shards aside there (``heldout`` in its
    ``stats.json``), else None."""
    stats = read_stats(directory) or {}
    return os.path.join(directory, stats["heldout"]["dir"]) if stats.get("heldout") else None


def vocab_sha256(vocab_file):
    """The hex sha256 of the vocab file's bytes (recorded as ``vocab_sha256`` in ``stats.json``)."""
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(vocab_file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
