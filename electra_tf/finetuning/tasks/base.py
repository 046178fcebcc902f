"""What every task is: a name, its files per split, its labels and metrics, and the read → featurize → loss →
evaluate → write-predictions protocol the fine-tuning run drives. The task families subclass `Task`."""

import dataclasses
import logging
import os
from typing import ClassVar, Optional

import tensorflow as tf

from electra_tf.finetuning.readers import EmptySplitError, RowErrors, require_file


@dataclasses.dataclass
class SplitData:
    """One split read from disk: examples plus what the reader had to drop."""

    split: str
    path: str
    examples: list
    bad_rows: list = dataclasses.field(default_factory=list)
    skipped: int = 0  # rows dropped by the task's own rule (e.g. PAWS rows with an empty sentence)

    def report(self):
        return {"path": self.path, "examples": len(self.examples), "bad_rows": len(self.bad_rows),
                "skipped": self.skipped}


@dataclasses.dataclass
class Features:
    """Model inputs (int32 [N, L] arrays), training labels and whatever `evaluate` needs to map back."""

    inputs: dict
    labels: dict
    truncated: int = 0
    meta: object = None

    def __len__(self):
        return len(self.inputs["input_ids"])


@dataclasses.dataclass(eq=False)
class Task:
    """A task's declaration plus the protocol. `splits` maps `train`/`dev`/`test` to a file name or a tuple of
    alternatives (the first that exists is used); a `dev` of None means the test file selects the best epoch,
    as the KoELECTRA suite does. `metrics[0]` selects the best epoch (higher is better). Tasks compare and hash
    by identity (`eq=False`): `get_task` hands out a fresh copy of a table entry, which `prepare` may fill in."""

    head_type: ClassVar[str] = None
    # The labels and model outputs with a token axis (axis 1), which length-bucketed batches cut to the batch's
    # width and pad back to max_seq_length (`loop.FineTuner`): declared, never guessed from shapes.
    sequence_labels: ClassVar[tuple] = ()
    sequence_outputs: ClassVar[tuple] = ()

    name: str
    splits: dict
    metrics: tuple
    labels: Optional[list] = None  # ordered label names (the model's id2label); None: one regression output
    skip_bad_rows: bool = False
    source: object = None  # where the splits come from instead of data_dir's files (a `tfds_input.TfdsSource`)

    @property
    def metric(self):
        return self.metrics[0]

    def prepare(self, data_dir):
        """Hook run before reading (tasks whose labels come from the train file collect them here)."""

    # Reading -----------------------------------------------------------------------------------------------

    def split_path(self, data_dir, split):
        if self.source is not None:
            return self.source.split_path(split)
        names = self.splits.get(split)
        if names is None and split == "dev":
            names = self.splits.get("test")
        if names is None:
            raise ValueError(f"Task {self.name} has no {split} split")
        names = (names,) if isinstance(names, str) else names
        paths = [os.path.join(data_dir, name) for name in names]
        return next((path for path in paths if tf.io.gfile.exists(path)), paths[0])

    def has_split(self, data_dir, split):
        if self.source is not None:
            return self.source.has_split(split)
        try:
            return tf.io.gfile.exists(self.split_path(data_dir, split))
        except ValueError:
            return False

    def read(self, data_dir, split):
        path = self.split_path(data_dir, split)
        if self.source is None:
            require_file(path, f"{split} file of task {self.name}")
        errors = RowErrors(path, self.skip_bad_rows)
        data = SplitData(split, path, [])
        data.examples = list(self.read_file(path, errors, data))
        data.bad_rows = errors.bad_rows
        if not data.examples:
            raise EmptySplitError(f"{path}: the {split} split of task {self.name} has no usable example"
                                  + (f" ({len(errors.bad_rows)} bad rows skipped)" if errors.bad_rows else ""))
        if errors.bad_rows:
            logging.warning("%s: skipped %d bad rows", path, len(errors.bad_rows))
        return data

    def read_file(self, path, errors, data):
        """Yields the examples of one file; `data.split` says which split it is."""
        raise NotImplementedError

    # Model side --------------------------------------------------------------------------------------------

    def featurize(self, examples, tokenizer, hparams, training=False):
        raise NotImplementedError

    def example_losses(self, labels, outputs):
        """The loss of every row (or every token: any shape `loss_weights` matches), float32."""
        raise NotImplementedError

    def synthetic_labels(self, rows, length, rng):
        """Random training labels of `rows` features `length` tokens wide, with the shapes and dtypes `featurize`
        gives (the planner's synthetic steps; `rng`: a numpy Generator)."""
        raise NotImplementedError

    def loss_weights(self, labels, row_weights):
        """The weight of each `example_losses` term: `row_weights` (1 for a real row, 0 for padding) by default."""
        return row_weights

    def loss(self, labels, outputs, row_weights=None):
        """Weighted mean loss over the batch, a float32 scalar tensor (padding rows of weight 0 change nothing)."""
        if row_weights is None:
            row_weights = tf.ones(tf.shape(next(iter(labels.values())))[:1], tf.float32)
        weights = self.loss_weights(labels, row_weights)
        total = tf.reduce_sum(self.example_losses(labels, outputs) * weights)
        return total / tf.maximum(tf.reduce_sum(weights), 1.0)

    def evaluate(self, examples, features, outputs):
        """Returns `(metrics, predictions)`; `outputs` are the model's numpy outputs over all features.
        Examples without labels give an empty metrics dict."""
        raise NotImplementedError

    def write_predictions(self, path, examples, predictions):
        raise NotImplementedError

    def write_submission(self, output_dir, examples, predictions):
        """Extra test-prediction files in a benchmark's submission format (GLUE's); none by default."""


def label_map(labels):
    return {label: index for index, label in enumerate(labels)}


def unlabeled_dev_message(path, task, what):
    return f"{path}: the dev split of task {task} {what}; it selects the best epoch and needs labels"
