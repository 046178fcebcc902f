"""`--tfds glue/cola [--tfds_data_dir DIR]`: a prepared TFDS dataset as a task's splits instead of its files.

The task's `tfds_columns` name the TFDS features of its columns; the rows then go through the task's own
label parsing. A TFDS class id becomes its class name when the task's labels are those names (MNLI, QNLI,
RTE), else the id as text (GLUE's 0/1 files: TFDS glue's class ids follow them). TFDS glue marks unlabelled
(test) rows with the label -1. Splits: `dev` is TFDS `validation` (MNLI: `validation_matched`), `test` is `test`
(`test_matched`), `dev_mismatched` is `validation_mismatched`. Nothing is downloaded or prepared here.
"""

import dataclasses

import numpy as np

from electra_tf.finetuning.readers import MissingLabelsError


class TfdsSource:
    """One prepared TFDS dataset (`tfds.builder(name, data_dir=...)`), read split by split."""

    def __init__(self, name, data_dir=None):
        import tensorflow_datasets as tfds  # heavy; imported only when --tfds is used

        self.name = name
        self._tfds = tfds
        try:
            self.builder = tfds.builder(name, data_dir=data_dir)
        except Exception as error:  # tfds raises its own DatasetNotFoundError / registration errors
            raise ValueError(f"--tfds {name}: unknown TFDS dataset ({error})") from error
        if not self.builder.is_prepared():
            raise FileNotFoundError(f"--tfds {name}: not prepared in {self.builder.data_dir} (build it first, "
                                    f"e.g. `tfds build {name} --data_dir DIR`, and pass --tfds_data_dir DIR)")

    def _split(self, split):
        wanted = split.replace("dev", "validation")
        available = self.builder.info.splits
        return next((name for name in (wanted, wanted + "_matched") if name in available), None)

    def split_path(self, split):
        return f"tfds:{self.name}/{self._split(split) or split}"

    def has_split(self, split):
        return self._split(split) is not None

    def check_features(self, columns):
        """Raises a ValueError when the dataset lacks a feature that `columns` names."""
        missing = [name for name in columns.named().values() if name not in self.builder.info.features]
        if missing:
            raise ValueError(f"--tfds {self.name}: no feature(s) {missing}; it has "
                             f"{sorted(self.builder.info.features)}")

    def rows(self, task, split):
        """Yields `(row_number, {"text", "text_pair", "label", "id": str})` like the task's file reader, in
        the order of the `id` feature (the file's row order for TFDS glue)."""
        tfds_split = self._split(split)
        if tfds_split is None:
            raise ValueError(f"--tfds {self.name}: no {split} split; it has {sorted(self.builder.info.splits)}")
        refs = task.tfds_columns.named()
        label_feature = self.builder.info.features[refs["label"]]
        names = getattr(label_feature, "names", None)
        by_name = bool(names) and set(names) <= set(task.labels or ())
        records = list(self._tfds.as_numpy(self.builder.as_dataset(split=tfds_split, shuffle_files=False)))
        if "id" in refs:
            records.sort(key=lambda record: int(record[refs["id"]]))
        for number, record in enumerate(records, start=1):
            row = {key: _text(record[feature]) for key, feature in refs.items() if key != "label"}
            label = record[refs["label"]]
            if label >= 0:
                # float32 scores as their shortest text, so 3.974 reads back as the file's 3.974
                row["label"] = names[int(label)] if by_name else (str(np.float32(label)) if task.regression
                                                                   else str(int(label)))
            elif not split.startswith("test"):
                raise MissingLabelsError(f"{self.split_path(split)}: row {number} has no label; the {split} "
                                         f"split of task {task.name} needs labels")
            yield number, row


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def use_tfds(task, name, data_dir=None):
    """A copy of `task` reading its splits from the prepared TFDS dataset `name` in `data_dir`."""
    if getattr(task, "tfds_columns", None) is None:
        raise ValueError(f"--tfds: task {task.name} names no TFDS features (tfds_columns); the GLUE tasks do")
    source = TfdsSource(name, data_dir)
    source.check_features(task.tfds_columns)
    return dataclasses.replace(task, source=source)
