"""Extractive question answering (KorQuAD 1.0, SQuAD-v1 JSON; KLUE-MRC, with unanswerable questions): sliding
windows over the context, answers decoded with n-best / max_answer_length. Every setting (doc_stride,
max_query_length, n_best_size, max_answer_length) comes from the hparams given to `featurize`."""

import dataclasses
from typing import ClassVar

import numpy as np
import tensorflow as tf

from electra_tf import io_utils
from electra_tf.finetuning import metrics, squad
from electra_tf.finetuning.readers import MissingLabelsError
from electra_tf.finetuning.tasks.base import Features, Task, unlabeled_dev_message


@dataclasses.dataclass
class QaMeta:
    """What `evaluate` needs besides the logits: the windows and the decoding settings they were built with."""

    windows: squad.SquadFeatures
    n_best_size: int
    max_answer_length: int


@dataclasses.dataclass(eq=False)
class QaTask(Task):
    """KorQuAD's EM/F1 by default; `unanswerable` (KLUE-MRC): questions marked `is_impossible` train towards
    [CLS], are answered "" when [CLS] outscores every span, and are scored by `metrics.klue_mrc_scores`;
    `id_field` names the question id's field."""

    head_type: ClassVar[str] = "question_answering"
    sequence_outputs: ClassVar[tuple] = ("start_logits", "end_logits")

    unanswerable: bool = False
    id_field: str = "id"

    def read_file(self, path, errors, data):
        examples = list(squad.read_squad_json(path, errors, self.id_field))
        unanswered = [example.qid for example in examples if not example.answers and not example.unanswerable]
        if data.split == "dev" and unanswered:
            raise MissingLabelsError(unlabeled_dev_message(
                path, self.name, f"has {len(unanswered)} question(s) without answers (first: {unanswered[0]!r})"))
        return examples

    def featurize(self, examples, tokenizer, hparams, training=False):
        windows = squad.featurize(examples, tokenizer, hparams.max_seq_length, hparams.doc_stride,
                                  hparams.max_query_length, training=training)
        return Features(windows.inputs, windows.labels, truncated=windows.truncated,
                        meta=QaMeta(windows, hparams.n_best_size, hparams.max_answer_length))

    def synthetic_labels(self, rows, length, rng):
        return {name: rng.integers(0, length, rows).astype(np.int32) for name in ("start_positions", "end_positions")}

    def example_losses(self, labels, outputs):
        start = tf.keras.losses.sparse_categorical_crossentropy(
            labels["start_positions"], tf.cast(outputs["start_logits"], tf.float32), from_logits=True)
        end = tf.keras.losses.sparse_categorical_crossentropy(
            labels["end_positions"], tf.cast(outputs["end_logits"], tf.float32), from_logits=True)
        return (start + end) / 2.0

    def evaluate(self, examples, features, outputs):
        meta = features.meta
        predictions = squad.decode_answers(
            examples, meta.windows, np.asarray(outputs["start_logits"]), np.asarray(outputs["end_logits"]),
            n_best_size=meta.n_best_size, max_answer_length=meta.max_answer_length, null_answers=self.unanswerable)
        answers = {example.qid: [text for text, _ in example.answers] for example in examples
                   if example.answers or example.unanswerable}
        if len(answers) < len(examples):
            return {}, predictions
        if self.unanswerable:
            return metrics.klue_mrc_scores(answers, predictions), predictions
        return metrics.korquad_scores(answers, predictions), predictions

    def write_predictions(self, path, examples, predictions):
        io_utils.write_json(path, predictions)
