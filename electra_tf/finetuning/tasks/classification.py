"""Single-sentence and sentence-pair classification and regression over TSV/CSV files, declared by columns:
`[CLS] a [SEP] (b [SEP])` into a sequence-classification head (one output for regression)."""

import dataclasses
import logging
import os
from typing import ClassVar, Optional

import numpy as np
import tensorflow as tf

from electra_tf import io_utils
from electra_tf.finetuning import metrics
from electra_tf.finetuning.readers import (BadRowError, EmptySplitError, MissingLabelsError, RowErrors,
                                           read_delimited, require_file)
from electra_tf.finetuning.tasks.base import Features, Task, label_map, unlabeled_dev_message
from electra_tf.finetuning.windows import Windows, pool_windows, windowed_features

BINARY = ["0", "1"]


@dataclasses.dataclass
class ClassificationExample:
    guid: str
    text_a: str
    text_b: Optional[str] = None
    label: object = None  # label index (int), score (float) or None when the file has no labels
    subset: Optional[str] = None  # which part of a two-file split the row is from (MNLI's matched/mismatched)


@dataclasses.dataclass(frozen=True)
class Columns:
    """Where a row's fields are. Each is a header name (str), a tuple of alternative header names (the first
    the header has is used), or a 0-based column index (int) for files without a header line. `text_pair`
    None: single-sentence task; `id` None (or absent from the header): ids are `<file>-<line>`."""

    text: object
    label: object
    text_pair: object = None
    id: object = None

    def named(self):
        return {key: ref for key, ref in dataclasses.asdict(self).items() if ref is not None}


@dataclasses.dataclass(eq=False)
class SequenceTask(Task):
    """A classification (labels given, or collected from the train file when None) or regression task."""

    head_type: ClassVar[str] = "sequence_classification"

    columns: Columns = None
    regression: bool = False
    has_header: bool = True
    skip_empty_text: bool = False  # drop (and count) rows with an empty text, as the suite does for PAWS
    test_columns: Columns = None  # the test file's columns by header name, when its layout differs (GLUE's CoLA)
    tfds_columns: Columns = None  # the TFDS features holding the columns, for `--tfds` (see `tfds_input`)

    @property
    def pair(self):
        return self.columns.text_pair is not None

    # Reading -----------------------------------------------------------------------------------------------

    def prepare(self, data_dir):
        if self.regression or self.labels:
            return
        path = require_file(self.split_path(data_dir, "train"), f"train file of task {self.name}")
        errors = RowErrors(path, skip_bad_rows=True, max_logged=0)
        found = {row["label"].strip() for _, row in self._rows(path, errors, "train")}
        found.discard("")
        if not found:
            raise EmptySplitError(f"{path}: no labels found in column {self.columns.label!r}")
        try:
            self.labels = sorted(found, key=float)
        except ValueError:
            self.labels = sorted(found)
        logging.info("Labels collected from %s: %s", path, self.labels)

    def read_file(self, path, errors, data):
        basename = os.path.basename(path)
        for number, row in self._rows(path, errors, data.split):
            if self.skip_empty_text and (not row["text"].strip() or (self.pair and not row["text_pair"].strip())):
                data.skipped += 1
                continue
            label = None
            if "label" in row:
                label = self._parse_label(row["label"], errors, number)
                if label is None:
                    continue
            yield ClassificationExample(row.get("id") or f"{basename}-{number}", row["text"],
                                        row["text_pair"] if self.pair else None, label)

    def _rows(self, path, errors, split):
        """Yields `(line_number, {"text", "text_pair", "label", "id": field})`; `label` is absent when a test
        file has no label column (predictions only), and so is `id` when its column is absent."""
        if self.source is not None:
            yield from self.source.rows(self, split)
            return
        delimiter = "," if path.endswith(".csv") else "\t"
        columns = self.test_columns if split.startswith("test") and self.test_columns else self.columns
        refs = columns.named()
        if not self.has_header and columns is self.columns:
            width = max(refs.values()) + 1
            for number, fields in read_delimited(path, errors, delimiter=delimiter):
                if len(fields) < width:
                    errors.bad(number, f"expected at least {width} columns, found {len(fields)}")
                    continue
                yield number, {key: fields[index] for key, index in refs.items()}
            return
        names = {}

        def required(header):
            for key, ref in refs.items():
                options = ref if isinstance(ref, tuple) else (ref,)
                present = next((name for name in options if name in header), None)
                if present is None and key == "id":
                    continue
                if present is None and key == "label" and split != "train":
                    if split.startswith("dev"):
                        raise MissingLabelsError(unlabeled_dev_message(
                            path, self.name, f"has no label column {columns.label!r}"))
                    continue
                if present is None and len(options) > 1:
                    raise BadRowError(f"{path}:1: header {header} needs one of the columns {list(options)}")
                names[key] = present or options[0]
            return list(names.values())

        for number, row in read_delimited(path, errors, header=required, delimiter=delimiter):
            yield number, {key: row[name] for key, name in names.items()}

    def _parse_label(self, text, errors, number):
        """The label index (or float score); reports a bad row and returns None when unparsable."""
        text = text.strip()
        if self.regression:
            try:
                value = float(text)
            except ValueError:
                errors.bad(number, f"unparsable score {text!r}")
                return None
            if not np.isfinite(value):
                errors.bad(number, f"score {text!r} is not finite")
                return None
            return value
        mapping = label_map(self.labels)
        if text not in mapping:
            errors.bad(number, f"unknown label {text!r} (known: {', '.join(self.labels)})")
            return None
        return mapping[text]

    # Model side --------------------------------------------------------------------------------------------

    def featurize(self, examples, tokenizer, hparams, training=False):
        first = tokenizer.encode_batch([example.text_a for example in examples])
        has_pair = any(example.text_b is not None for example in examples)
        second = tokenizer.encode_batch([example.text_b or "" for example in examples]) if has_pair else None
        if self.regression:
            labels = np.array([np.nan if e.label is None else e.label for e in examples], np.float32)
        else:
            labels = np.array([-1 if e.label is None else e.label for e in examples], np.int32)
        if hparams.long_text == "windows":
            return windowed_features(tokenizer, first, second, labels, hparams, training)
        ids, types, mask, truncated = tokenizer.build_batch(first, second, hparams.max_seq_length)
        return Features({"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
                        {"labels": labels}, truncated)

    def synthetic_labels(self, rows, length, rng):
        if self.regression:
            return {"labels": rng.uniform(0, 5, rows).astype(np.float32)}
        return {"labels": rng.integers(0, len(self.labels or ["score"]), rows).astype(np.int32)}

    def example_losses(self, labels, outputs):
        logits = tf.cast(outputs["logits"], tf.float32)
        if self.regression:
            return tf.square(logits[:, 0] - tf.cast(labels["labels"], tf.float32))
        return tf.keras.losses.sparse_categorical_crossentropy(labels["labels"], logits, from_logits=True)

    def evaluate(self, examples, features, outputs):
        logits = np.asarray(outputs["logits"])
        if features is not None and isinstance(features.meta, Windows):
            logits = pool_windows(logits, features.meta.rows, len(examples), features.meta.pooling)
        predictions = logits[:, 0].astype(np.float64) if self.regression else logits.argmax(-1)
        gold = [example.label for example in examples]
        if any(label is None for label in gold):
            return {}, predictions
        num_labels = None if self.regression else len(self.labels)
        return metrics.sentence_scores(self.metrics, np.asarray(gold), predictions, num_labels), predictions

    def write_predictions(self, path, examples, predictions):
        with io_utils.atomic_file(path) as handle:
            handle.write("id\tprediction\n")
            for example, prediction in zip(examples, predictions):
                value = f"{prediction:.6f}" if self.regression else self.labels[int(prediction)]
                handle.write(f"{example.guid}\t{value}\n")
