"""Long texts as windows (`long_text: windows`): classification and regression inputs longer than
`max_seq_length` become several windows (`tokenization.pairs.window_plan`), and the model's logits over an
example's windows are pooled (`window_pooling`: mean or max) into the example's logits. Training uses each
example's first window (`window_training: first`, what truncation gives) or all of them as rows (`all`)."""

import dataclasses

import numpy as np

from electra_tf.finetuning.tasks.base import Features


@dataclasses.dataclass(frozen=True)
class Windows:
    """Features' `meta` of windowed features: the example of each feature row, and how to pool them."""

    rows: np.ndarray
    pooling: str


def windowed_features(tokenizer, first, second, labels, hparams, training):
    """The windows of every example as features (labels repeated per window). Training with
    `window_training: first` keeps each example's first window only (one row per example, as truncation).

    Args:
      tokenizer: a `FastTokenizer`.
      first, second: the examples' token id lists (`second` None for single texts).
      labels: the examples' labels (array).
      hparams: `FinetuneHparams` (max_seq_length, window_stride, window_pooling, window_training).
      training: whether these are the train split's features.
    Returns:
      `Features` whose `meta` is a `Windows`; `truncated` counts the examples whose later windows were left out.
    """
    ids, types, mask, rows, split = tokenizer.build_windows(first, second, hparams.max_seq_length,
                                                            hparams.window_stride)
    truncated = 0
    if training and hparams.window_training == "first":
        keep = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        ids, types, mask, rows, truncated = ids[keep], types[keep], mask[keep], rows[keep], split
    return Features({"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
                    {"labels": labels[rows]}, truncated, Windows(rows, hparams.window_pooling))


def pool_windows(logits, rows, count, pooling):
    """Each example's logits: the mean or the element-wise max of its windows' logits.

    Args:
      logits: [windows, outputs] array.
      rows: the example of each window (ascending, every example present).
      count: the number of examples.
      pooling: "mean" or "max".
    Returns:
      [count, outputs] float array.
    """
    logits = np.asarray(logits, np.float64)
    if pooling == "max":
        pooled = np.full((count, logits.shape[1]), -np.inf)
        np.maximum.at(pooled, rows, logits)
        return pooled
    sums = np.zeros((count, logits.shape[1]))
    np.add.at(sums, rows, logits)
    return sums / np.bincount(rows, minlength=count)[:, None]
