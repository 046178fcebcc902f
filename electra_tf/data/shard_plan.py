"""Shard planning: the corpus (files in order) cut into contiguous byte ranges that end at document boundaries.

The plan depends only on the files' contents and the number of shards, never on how many processes build them.
"""

import math

import tensorflow as tf

DEFAULT_BYTES_PER_SHARD = 8 * 1024 * 1024
MAX_DEFAULT_SHARDS = 1000


def default_num_shards(total_bytes):
    """One shard per `DEFAULT_BYTES_PER_SHARD` of text, between 1 and `MAX_DEFAULT_SHARDS`."""
    return max(1, min(MAX_DEFAULT_SHARDS, math.ceil(total_bytes / DEFAULT_BYTES_PER_SHARD)))


def _next_boundary(path, offset, size, blanks_separate_docs):
    """The first position >= `offset` in `path` where a document (or, without blank-line documents, a
    line) starts: 0, `size`, or just after a newline (after a blank line when blanks separate documents)."""
    if offset <= 0:
        return 0
    with tf.io.gfile.GFile(path, "rb") as handle:
        handle.seek(offset - 1)
        if not handle.readline().endswith(b"\n"):
            return size
        while blanks_separate_docs:
            line = handle.readline()
            if not line:
                return size
            if not line.decode("utf-8", errors="replace").strip():
                break
        return handle.tell()


def plan_shards(files, num_shards, blanks_separate_docs=True):
    """Splits `files` (read in order) into `num_shards` lists of ``(path, start, end)`` byte ranges of about
    equal total size, each list ending at a document boundary. Depends only on the files' contents."""
    sizes = [tf.io.gfile.stat(path).length for path in files]
    total = sum(sizes)
    cuts = [(0, 0)]
    for k in range(1, num_shards):
        target, file_index = k * total // num_shards, 0
        while file_index < len(files) - 1 and target >= sizes[file_index]:
            target -= sizes[file_index]
            file_index += 1
        cut = (file_index, _next_boundary(files[file_index], target, sizes[file_index], blanks_separate_docs))
        cuts.append(max(cut, cuts[-1]))
    cuts.append((len(files) - 1, sizes[-1]))
    plan = []
    for (first_file, start), (last_file, end) in zip(cuts, cuts[1:]):
        pieces = []
        for index in range(first_file, last_file + 1):
            piece_start = start if index == first_file else 0
            piece_end = end if index == last_file else sizes[index]
            if piece_end > piece_start:
                pieces.append((files[index], piece_start, piece_end))
        plan.append(pieces)
    return plan
