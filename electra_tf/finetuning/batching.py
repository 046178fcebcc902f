"""Length-bucketed batch plans for fine-tuning (pure numpy): which feature rows form each batch and how wide
(how many leading token positions) the batch is.

Widths are the multiples of `bucket_width` below `max_seq_length`, then `max_seq_length` itself (`bucket_width`
0: the one width `max_seq_length`). A row's length is one past its last attended position; a batch's width is
the smallest width that holds its longest row. With `fill` (static shapes) every batch has exactly
`batch_size` rows: the missing ones are marked `FILL` (the fine-tuning loop gives them weight 0 / drops their outputs).
"""

import dataclasses

import numpy as np

FILL = -1  # the row index of a filler row (static shapes)


@dataclasses.dataclass(frozen=True)
class Batch:
    """Feature row indices (`FILL` for filler rows) and the width they are cut to."""

    rows: np.ndarray
    width: int


def bucket_widths(max_seq_length, bucket_width):
    """The ascending widths: multiples of `bucket_width` below `max_seq_length`, then `max_seq_length`."""
    if not bucket_width:
        return (max_seq_length,)
    return tuple(range(bucket_width, max_seq_length, bucket_width)) + (max_seq_length,)


def row_lengths(attention_mask):
    """One past each row's last attended position (its attention-mask sum for the usual prefix masks)."""
    mask = np.asarray(attention_mask) != 0
    if not mask.size:
        return np.zeros(len(mask), np.int64)
    return np.where(mask.any(axis=1), mask.shape[1] - np.argmax(mask[:, ::-1], axis=1), 0)


def row_widths(lengths, widths):
    """The smallest width that holds each row."""
    widths = np.asarray(widths)
    return widths[np.minimum(np.searchsorted(widths, lengths, side="left"), len(widths) - 1)]


def train_plan(order, lengths, widths, batch_size, steps_per_execution, seed, epoch, fill=False):
    """An epoch's batches: `order` (the epoch's permutation) stable-sorted by width and cut into batches of
    `batch_size` (so there are as many as without buckets); consecutive equal-width batches grouped into blocks
    of up to `steps_per_execution`, the blocks shuffled by (seed, epoch) — left in order with a single width, so
    `bucket_width` 0 keeps the unbucketed order — and flattened."""
    order = np.asarray(order)
    per_row = row_widths(np.asarray(lengths)[order], widths)
    by_width = np.argsort(per_row, kind="stable")
    batches = _cut(order[by_width], per_row[by_width], batch_size, fill)
    if len(widths) == 1:
        return batches
    blocks = []
    for batch in batches:
        if blocks and blocks[-1][-1].width == batch.width and len(blocks[-1]) < steps_per_execution:
            blocks[-1].append(batch)
        else:
            blocks.append([batch])
    permutation = np.random.default_rng([seed, epoch]).permutation(len(blocks))
    return [batch for index in permutation for batch in blocks[index]]


def eval_plan(lengths, widths, batch_size, fill=False):
    """Every row once, shortest first, in batches of `batch_size` (so equal widths are consecutive)."""
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    return _cut(order, row_widths(lengths[order], widths), batch_size, fill)


def _cut(order, per_row, batch_size, fill):
    """`order` in consecutive batches of `batch_size`, each as wide as its widest row (`per_row`: sorted)."""
    batches = []
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        if fill and len(rows) < batch_size:
            rows = np.concatenate([rows, np.full(batch_size - len(rows), FILL, rows.dtype)])
        batches.append(Batch(rows, int(per_row[min(start + batch_size, len(order)) - 1])))
    return batches


def runs(batches):
    """`batches` split into runs of consecutive equal-width batches: `[(width, [Batch, ...]), ...]`."""
    result = []
    for batch in batches:
        if result and result[-1][0] == batch.width:
            result[-1][1].append(batch)
        else:
            result.append((batch.width, [batch]))
    return result


def stack(batches, batch_size):
    """`batches` as arrays for one dataset: row indices `[len(batches), batch_size]` (filler and missing rows
    replaced by the batch's first row), which of them are real (bool, same shape), and each batch's size."""
    rows = np.zeros((len(batches), batch_size), np.int64)
    real = np.zeros((len(batches), batch_size), bool)
    for index, batch in enumerate(batches):
        count = len(batch.rows)
        rows[index, :count] = batch.rows
        real[index, :count] = batch.rows != FILL
        rows[index][~real[index]] = batch.rows[0]
    return rows, real, np.array([len(batch.rows) for batch in batches], np.int64)
