"""TFDS builders for the eight KoELECTRA benchmark tasks and the KLUE tasks, reading the files from a `manual_dir`.

Nothing is downloaded: put the task's files (the names in `MANUAL_DOWNLOAD_INSTRUCTIONS`) in a directory and

    import tensorflow_datasets as tfds
    import electra_tf.finetuning.tfds_builders  # registers koelectra_nsmc, koelectra_kornli, ...
    ds = tfds.load("koelectra_nsmc", split="train",
                   download_and_prepare_kwargs={"download_config": tfds.download.DownloadConfig(manual_dir=DIR)})

One builder per benchmark task of `electra_tf.finetuning.tasks.TASKS` (`koelectra_<task>`, and `klue_<task>` for
KLUE's: `klue_ynat`, `klue_nli`, ...), generated from the task's declaration;
the examples are parsed by the same readers `run_finetuning.py` uses, so `tfds.load` users get the same rows
(same skipped rows, same labels) as the fine-tuning runs. Splits: `train`, `validation` (when the task has a
dev file), `test`.
"""

import numpy as np
import tensorflow_datasets as tfds

from electra_tf.finetuning import tasks as task_lib

_SPLITS = {"train": tfds.Split.TRAIN, "dev": tfds.Split.VALIDATION, "test": tfds.Split.TEST}


def _schema(task):
    """`(features, record)`: the TFDS features of a task's examples and the function mapping one example."""
    text = tfds.features.Text
    if isinstance(task, task_lib.TaggingTask):
        return ({"id": text(), "tokens": tfds.features.Sequence(text()),
                 "tags": tfds.features.Sequence(tfds.features.ClassLabel(names=task.labels))},
                lambda e: {"id": e.guid, "tokens": e.words, "tags": e.labels})
    if isinstance(task, task_lib.QaTask):
        return ({"id": text(), "title": text(), "context": text(), "question": text(),
                 "answers": tfds.features.Sequence({"text": text(),
                                                    "answer_start": tfds.features.Scalar(dtype=np.int32)})},
                lambda e: {"id": e.qid, "title": e.title, "context": e.context, "question": e.question,
                           "answers": {"text": [t for t, _ in e.answers], "answer_start": [s for _, s in e.answers]}})
    if task.regression:
        target, target_feature = "score", tfds.features.Scalar(dtype=np.float32)
    else:
        target, target_feature = "label", tfds.features.ClassLabel(names=task.labels)
    if task.pair:
        return ({"id": text(), "sentence1": text(), "sentence2": text(), target: target_feature},
                lambda e: {"id": e.guid, "sentence1": e.text_a, "sentence2": e.text_b, target: e.label})
    return ({"id": text(), "text": text(), target: target_feature},
            lambda e: {"id": e.guid, "text": e.text_a, target: e.label})


class _TaskBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared logic; subclasses set `TASK` (a `tasks.TASKS` name)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Readers of electra_tf.finetuning.tasks."}
    TASK = None

    def _info(self):
        features, _ = _schema(task_lib.get_task(self.TASK))
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features), supervised_keys=None,
            description=f"Benchmark task {self.TASK}, read from local files.")

    def _split_generators(self, dl_manager):
        task = task_lib.get_task(self.TASK)
        manual_dir = str(dl_manager.manual_dir)
        generators = {}
        for split in ("train", "dev", "test"):
            name = task.splits.get(split)
            if name is None or (split == "test" and name == task.splits.get("dev")):
                continue
            generators[_SPLITS[split]] = self._generate_examples(manual_dir, split)
        return generators

    def _generate_examples(self, manual_dir, split):
        task = task_lib.get_task(self.TASK)
        _, record = _schema(task)
        for example in task.read(manual_dir, split).examples:
            row = record(example)
            yield row["id"], row


def _builder(task_name, prefix="koelectra_"):
    """The builder class of one task, registered with TFDS as `<prefix><task>` (`klue-nli` → `klue_nli`)."""
    task = task_lib.get_task(task_name)
    files = sorted({name for name in task.splits.values() if name})
    name = prefix + task_name.removeprefix(prefix.replace("_", "-")).replace("-", "_")
    class_name = "".join(part.capitalize() for part in name.split("_"))
    return type(class_name, (_TaskBuilder,), {
        "__module__": __name__, "name": name, "TASK": task_name,
        "MANUAL_DOWNLOAD_INSTRUCTIONS": f"Place {', '.join(files)} (the original files, unchanged) in the manual_dir."})


BUILDERS = {task_name: _builder(task_name) for task_name in task_lib.BENCHMARK_TASKS}
KLUE_BUILDERS = {task_name: _builder(task_name, prefix="klue_") for task_name in task_lib.KLUE}
