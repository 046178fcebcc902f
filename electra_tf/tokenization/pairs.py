"""``[CLS] A [SEP] (B [SEP])`` assembly with transformers' ``longest_first`` truncation.

`assemble_batch` is the one host-side assembler (fine-tuning features, `FastTokenizer`'s model inputs);
`InGraphTokenizer.build_model_inputs` is its in-graph counterpart, sharing `longest_first_removals`.
"""

import numpy as np

MODEL_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def longest_first_removals(length_a, length_b, budget, xp=np):
    """Tokens to drop from the ends of segments A and B, with transformers' ``longest_first`` rule.

    The longer segment loses tokens until both are equal, then they lose alternately (B first on a
    tie). Works on Python ints / NumPy arrays (``xp=np``) and in graph (``xp=tf.experimental.numpy``).
    """
    excess = xp.maximum(length_a + length_b - budget, 0)
    first = xp.minimum(xp.abs(length_a - length_b), excess)
    second = excess - first
    a_longer = length_a > length_b
    remove_a = xp.where(a_longer, first + second // 2, second // 2)
    remove_b = xp.where(a_longer, second - second // 2, first + second - second // 2)
    return remove_a, remove_b


def pair_with_specials(ids_a, ids_b, max_length, cls_id, sep_id):
    """``[CLS] A [SEP] (B [SEP])`` of at most `max_length` ids, A and B (lists; `ids_b` may be None) cut at
    their ends with the ``longest_first`` rule. Returns ``(ids, token_type_ids, truncated)``."""
    if ids_b is None:
        keep_a = max(min(len(ids_a), max_length - 2), 0)
        ids = [cls_id] + ids_a[:keep_a] + [sep_id]
        return ids, [0] * len(ids), keep_a < len(ids_a)
    remove_a, remove_b = (int(value) for value in longest_first_removals(len(ids_a), len(ids_b), max_length - 3))
    first = [cls_id] + ids_a[:len(ids_a) - remove_a] + [sep_id]
    second = ids_b[:len(ids_b) - remove_b] + [sep_id]
    return first + second, [0] * len(first) + [1] * len(second), remove_a + remove_b > 0


def assemble_batch(first, second, max_length, cls_id, sep_id, pad_id):
    """Rows of `pair_with_specials` (`first[i]`, and `second[i]` unless `second` is None) padded with `pad_id`
    to `max_length`, as transformers' ``truncation=True, padding="max_length"`` gives them.

    Returns ``({"input_ids", "attention_mask", "token_type_ids"}: int32 [N, max_length], truncated rows)``.
    """
    if max_length < (2 if second is None else 3):
        raise ValueError(f"max_length={max_length} leaves no room for [CLS]/[SEP]")
    count = len(first)
    ids = np.full((count, max_length), pad_id, np.int32)
    types = np.zeros((count, max_length), np.int32)
    mask = np.zeros((count, max_length), np.int32)
    truncated = 0
    for row in range(count):
        ids_b = None if second is None else second[row]
        tokens, token_types, cut = pair_with_specials(first[row], ids_b, max_length, cls_id, sep_id)
        truncated += cut
        ids[row, :len(tokens)] = tokens
        types[row, :len(tokens)] = token_types
        mask[row, :len(tokens)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}, truncated


def window_plan(length_a, length_b, max_length, stride, xp=np):
    """How a row too long for `max_length` is split into windows (the fine-tuning option ``long_text:
    windows``): windows slide over segment A, `step` tokens apart, each holding `keep_a` tokens of A and the
    first `keep_b` of B. A pair that fits keeps B whole (one window, as without windows); one that does not
    keeps at most half the room for B. Works on ints / NumPy arrays (``xp=np``) and in graph
    (``xp=tf.experimental.numpy``); `length_b` None: single segments.

    Returns ``(keep_a, keep_b, count, step)`` per row; window j starts at ``min(j * step, length_a - keep_a)``
    (so the last one ends with A).
    """
    if length_b is None:
        keep_b, room = length_a * 0, max_length - 2
        cap = keep_b + room
    else:
        fits = length_a + length_b <= max_length - 3
        keep_b = xp.where(fits, length_b, xp.minimum(length_b, (max_length - 3) // 2))
        cap = max_length - 3 - keep_b
    cap = xp.maximum(cap, 1)
    keep_a = xp.minimum(length_a, cap)
    step = xp.minimum(cap * 0 + stride, cap)
    count = 1 + (xp.maximum(length_a - cap, 0) + step - 1) // step
    return keep_a, keep_b, count, step


def window_batch(first, second, max_length, stride, cls_id, sep_id, pad_id):
    """`assemble_batch` of every window of every row (`window_plan`): ``(inputs [W, max_length], the row of each
    window [W], rows that needed more than one window)``."""
    windows_a, windows_b, rows, split = [], [] if second is not None else None, [], 0
    for row, ids_a in enumerate(first):
        ids_b = None if second is None else second[row]
        keep_a, keep_b, count, step = (int(value) for value in
                                       window_plan(len(ids_a), None if ids_b is None else len(ids_b),
                                                   max_length, stride))
        split += count > 1
        for index in range(count):
            start = min(index * step, len(ids_a) - keep_a)
            windows_a.append(ids_a[start:start + keep_a])
            if ids_b is not None:
                windows_b.append(ids_b[:keep_b])
            rows.append(row)
    inputs, _ = assemble_batch(windows_a, windows_b, max_length, cls_id, sep_id, pad_id)
    return inputs, np.array(rows, np.int64), split
