"""TFDS builders for the eight KoELECTRA benchmark tasks, reading the files from a `manual_dir`.

Nothing is downloaded: put the task's files (the names in `MANUAL_DOWNLOAD_INSTRUCTIONS`) in a directory and

    import tensorflow_datasets as tfds
    import electra_tf.finetuning.tfds_builders  # registers koelectra_nsmc, koelectra_kornli, ...
    ds = tfds.load("koelectra_nsmc", split="train",
                   download_and_prepare_kwargs={"download_config": tfds.download.DownloadConfig(manual_dir=DIR)})

The examples are parsed by the same readers `run_finetuning.py` uses, so `tfds.load` users get the same
rows (same skipped rows, same labels) as the fine-tuning runs. Splits: `train`, `validation` (when the task
has a dev file), `test`.
"""

import numpy as np
import tensorflow_datasets as tfds

from electra_tf.finetuning import tasks as task_lib

_SPLITS = {"train": tfds.Split.TRAIN, "dev": tfds.Split.VALIDATION, "test": tfds.Split.TEST}


class _TaskBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared logic: one builder per `electra_tf.finetuning.tasks` task."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Readers of electra_tf.finetuning.tasks."}
    TASK = None

    @classmethod
    def _task(cls):
        return task_lib.get_task(cls.TASK)

    def _info(self):
        return self.dataset_info_from_configs(
            features=self._features(), supervised_keys=None,
            description=f"KoELECTRA benchmark task {self.TASK}, read from local files.")

    def _split_generators(self, dl_manager):
        task = self._task()
        manual_dir = str(dl_manager.manual_dir)
        generators = {}
        for split in ("train", "dev", "test"):
            name = task.splits.get(split)
            if name is None or (split == "test" and name == task.splits.get("dev")):
                continue
            generators[_SPLITS[split]] = self._generate_examples(manual_dir, split)
        return generators

    def _generate_examples(self, manual_dir, split):
        task = self._task()
        for example in task.read(manual_dir, split).examples:
            yield self._key(example), self._record(task, example)

    @staticmethod
    def _key(example):
        return getattr(example, "guid", None) or example.qid


def _manual_instructions(task_name):
    task = task_lib.get_task(task_name)
    names = sorted({name for name in task.splits.values() if name})
    return f"Place {', '.join(names)} (the original files, unchanged) in the manual_dir."


class _SingleSentenceBuilder(_TaskBuilder, skip_registration=True):
    def _features(self):
        return tfds.features.FeaturesDict({
            "id": tfds.features.Text(), "text": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=self._task().labels)})

    def _record(self, task, example):
        return {"id": example.guid, "text": example.text_a, "label": example.label}


class _PairBuilder(_TaskBuilder, skip_registration=True):
    def _features(self):
        return tfds.features.FeaturesDict({
            "id": tfds.features.Text(), "sentence1": tfds.features.Text(), "sentence2": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=self._task().labels)})

    def _record(self, task, example):
        return {"id": example.guid, "sentence1": example.text_a, "sentence2": example.text_b,
                "label": example.label}


class KoelectraNsmc(_SingleSentenceBuilder):
    name = "koelectra_nsmc"
    TASK = "nsmc"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _manual_instructions("nsmc")


class KoelectraHateSpeech(_SingleSentenceBuilder):
    name = "koelectra_hate_speech"
    TASK = "hate-speech"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _manual_instructions("hate-speech")


class KoelectraPaws(_PairBuilder):
    name = "koelectra_paws"
    TASK = "paws"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _manual_instructions("paws")


class KoelectraKornli(_PairBuilder):
    name = "koelectra_kornli"
    TASK = "kornli"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _manual_instructions("kornli")


class KoelectraQuestionPair(_PairBuilder):
    name = "koelectra_question_pair"
    TASK = "question-pair"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _manual_instructions("question-pair")


class KoelectraKorsts(_TaskBuilder):
    name = "koelectra_korsts"
    TASK = "korsts"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _manual_instructions("korsts")

    def _features(self):
        return tfds.features.FeaturesDict({
            "id": tfds.features.Text(), "sentence1": tfds.features.Text(), "sentence2": tfds.features.Text(),
            "score": tfds.features.Scalar(dtype=np.float32)})

    def _record(self, task, example):
        return {"id": example.guid, "sentence1": example.text_a, "sentence2": example.text_b,
                "score": example.label}


class KoelectraNaverNer(_TaskBuilder):
    name = "koelectra_naver_ner"
    TASK = "naver-ner"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _manual_instructions("naver-ner")

    def _features(self):
        return tfds.features.FeaturesDict({
            "id": tfds.features.Text(), "tokens": tfds.features.Sequence(tfds.features.Text()),
            "tags": tfds.features.Sequence(tfds.features.ClassLabel(names=task_lib.NER_LABELS))})

    def _record(self, task, example):
        return {"id": example.guid, "tokens": example.words, "tags": example.labels}


class KoelectraKorquad(_TaskBuilder):
    name = "koelectra_korquad"
    TASK = "korquad"
    MANUAL_DOWNLOAD_INSTRUCTIONS = _manual_instructions("korquad")

    def _features(self):
        return tfds.features.FeaturesDict({
            "id": tfds.features.Text(), "title": tfds.features.Text(), "context": tfds.features.Text(),
            "question": tfds.features.Text(),
            "answers": tfds.features.Sequence({"text": tfds.features.Text(),
                                               "answer_start": tfds.features.Scalar(dtype=np.int32)})})

    def _record(self, task, example):
        return {"id": example.qid, "title": example.title, "context": example.context,
                "question": example.question,
                "answers": {"text": [text for text, _ in example.answers],
                            "answer_start": [start for _, start in example.answers]}}


BUILDERS = {builder.TASK: builder for builder in (
    KoelectraNsmc, KoelectraNaverNer, KoelectraPaws, KoelectraKornli, KoelectraKorsts, KoelectraQuestionPair,
    KoelectraKorquad, KoelectraHateSpeech)}
