"""Packed examples → serialized ``tf.train.Example`` records, written directly as protobuf bytes.

`serialize_examples` gives, for every row, the bytes of
``tf.train.Example(features={"input_ids": Int64List, "input_mask": Int64List, "segment_ids": Int64List})
.SerializeToString(deterministic=True)`` (features sorted by name, packed varints). The varints of a whole
block are computed with NumPy; only the few headers that depend on a row's byte length are joined per row.
"""

import functools

import numpy as np

from electra_tf.data.schema import FEATURE_NAMES

_IDS, _MASK, _SEGMENTS = FEATURE_NAMES  # the order of the fields in a record (sorted by name)
_MAX_VARINT_BYTES = 5  # int32 values


def _varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number, payload):
    """A length-delimited protobuf field."""
    return bytes([number << 3 | 2]) + _varint(len(payload)) + payload


def _feature_entry(name, packed_varints):
    # Features.feature[name] = Feature(int64_list=Int64List(value=...)), as one map entry.
    return _field(1, _field(1, name.encode()) + _field(2, _field(3, _field(1, packed_varints))))


def _packed_varints(values):
    """Row-wise packed varints of non-negative int ``[N, L]`` values: (all bytes, byte length per row)."""
    values = np.asarray(values)
    if values.size and (values.min() < 0 or values.max() >= 2 ** 31):
        raise ValueError("token ids must be in [0, 2**31)")
    values = values.astype(np.int32)
    largest = int(values.max()) if values.size else 0
    width = next(size for size in range(1, _MAX_VARINT_BYTES + 1) if largest < 1 << 7 * size)
    # Byte k of a value: its k-th 7-bit group, with the high bit set when more bytes follow.
    more = [values >= 1 << 7 * k for k in range(1, width)] + [np.zeros(values.shape, bool)]
    planes = np.stack([((values >> 7 * k) & 0x7F | more[k] << 7).astype(np.uint8) for k in range(width)], -1)
    used = np.stack([np.ones(values.shape, bool)] + more[:-1], -1)
    return planes[used].tobytes(), used.sum((1, 2))


@functools.lru_cache(maxsize=None)
def _record_layout(length):
    return _RecordLayout(length)


class _RecordLayout:
    """The header bytes of records of `length` values per feature; those before the ids depend on the ids'
    byte length, so they are made once per length seen."""

    def __init__(self, length):
        self.length = length
        zeros = bytes(length)
        self.mask_prefix = _feature_entry(_MASK, zeros)[:-length]
        self.segment_prefix = _feature_entry(_SEGMENTS, zeros)[:-length]
        self._heads = {}

    def head(self, ids_bytes):
        """Everything before the ids' varints, for an ids payload of `ids_bytes` bytes."""
        if ids_bytes not in self._heads:
            ids_entry = _feature_entry(_IDS, bytes(ids_bytes))
            tail = len(self.mask_prefix) + len(self.segment_prefix) + 2 * self.length
            record = _field(1, ids_entry + bytes(tail))
            self._heads[ids_bytes] = record[: len(record) - tail - ids_bytes]
        return self._heads[ids_bytes]


def serialize_examples(examples):
    """`PackedExample` of int arrays ``[N, L]`` (``input_mask`` and ``segment_ids`` 0/1) → N record bytes."""
    input_ids, input_mask, segment_ids = (np.asarray(values) for values in examples)
    count, length = input_ids.shape
    for name, values in ((_MASK, input_mask), (_SEGMENTS, segment_ids)):
        if values.size and (values.min() < 0 or values.max() > 1):
            raise ValueError(f"{name} must hold only 0 and 1")
    layout = _record_layout(length)
    ids_data, ids_sizes = _packed_varints(input_ids)
    ids_ends = np.cumsum(ids_sizes).tolist()
    mask_data = input_mask.astype(np.uint8).tobytes()
    segment_data = segment_ids.astype(np.uint8).tobytes()
    records, start = [], 0
    for row, (end, size) in enumerate(zip(ids_ends, ids_sizes.tolist())):
        row_start = row * length
        records.append(b"".join((layout.head(size), ids_data[start:end],
                                 layout.mask_prefix, mask_data[row_start:row_start + length],
                                 layout.segment_prefix, segment_data[row_start:row_start + length])))
        start = end
    return records
