"""The fine-tuning tasks: each knows its files, how to read them, featurize, score and write predictions.

`get_task(name, **options)` returns a task from `TASKS`: the eight KoELECTRA benchmark tasks (`nsmc`,
`naver-ner`, `paws`, `kornli`, `korsts`, `question-pair`, `korquad`, `hate-speech`) and the generic
`text_classification`, `text_pair_classification`, `text_regression` over any TSV/CSV with named columns.
"""

import dataclasses
import logging
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from electra_tf.finetuning import metrics, squad
from electra_tf.finetuning.readers import (BadRowError, EmptySplitError, RowErrors, read_delimited,
                                           read_lines, require_file)
from electra_tf.finetuning.tokenizer_adapter import TokenizerAdapter  # noqa: F401  (re-exported)

IGNORE_INDEX = -100  # label of positions that do not count in the token-classification loss / metric

NER_LABELS = ["O"] + [f"{entity}-{tag}" for entity in (
    "PER", "FLD", "AFW", "ORG", "LOC", "CVL", "DAT", "TIM", "NUM", "EVT", "ANM", "PLT", "MAT", "TRM")
    for tag in ("B", "I")]


@dataclasses.dataclass
class ClassificationExample:
    guid: str
    text_a: str
    text_b: Optional[str] = None
    label: object = None  # label index (int), score (float) or None when the file has no labels


@dataclasses.dataclass
class TaggingExample:
    guid: str
    words: list
    labels: Optional[list] = None  # label indices per word


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


def _label_map(labels):
    return {label: index for index, label in enumerate(labels)}


class Task:
    """Base class. Subclasses set `name`, `head_type`, `metric` (the selection metric, higher is better),
    `splits` (split → file name; `dev` None means the test file selects the best epoch, as the KoELECTRA
    suite does) and implement `read_file`, `featurize`, `loss`, `evaluate`, `write_predictions`."""

    name = None
    head_type = "sequence_classification"
    metric = "accuracy"
    splits = {}

    def __init__(self, skip_bad_rows=False):
        self.skip_bad_rows = skip_bad_rows

    # Labels ------------------------------------------------------------------------------------------------

    @property
    def labels(self):
        """Ordered label names (the model's id2label), or None for regression (one output)."""
        return None

    def prepare(self, data_dir):
        """Hook run before reading (the generic tasks collect their labels here)."""

    # Reading -----------------------------------------------------------------------------------------------

    def split_path(self, data_dir, split):
        name = self.splits.get(split)
        if name is None and split == "dev":
            name = self.splits.get("test")
        if name is None:
            raise ValueError(f"Task {self.name} has no {split} split")
        return os.path.join(data_dir, name)

    def has_split(self, data_dir, split):
        try:
            return tf.io.gfile.exists(self.split_path(data_dir, split))
        except ValueError:
            return False

    def read(self, data_dir, split):
        path = require_file(self.split_path(data_dir, split), f"{split} file of task {self.name}")
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
        raise NotImplementedError

    # Model side --------------------------------------------------------------------------------------------

    def featurize(self, examples, tokenizer, hparams, training=False):
        raise NotImplementedError

    def loss(self, labels, outputs):
        """Mean loss over the (per-replica) batch, a float32 scalar tensor."""
        raise NotImplementedError

    def evaluate(self, examples, features, outputs):
        """Returns `(metrics, predictions)`; `outputs` are the model's numpy outputs over all features.
        Examples without labels give an empty metrics dict."""
        raise NotImplementedError

    def write_predictions(self, path, examples, predictions):
        raise NotImplementedError


# Sentence (pair) classification and regression ---------------------------------------------------------------

class SequenceTask(Task):
    """Single sentence or sentence-pair classification/regression with `[CLS] a [SEP] (b [SEP])`."""

    label_names = None  # class attribute for fixed-label tasks
    regression = False

    @property
    def labels(self):
        return None if self.regression else list(self.label_names)

    def parse_label(self, text, errors, number):
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
        mapping = _label_map(self.labels)
        if text not in mapping:
            errors.bad(number, f"unknown label {text!r} (known: {', '.join(self.labels)})")
            return None
        return mapping[text]

    def featurize(self, examples, tokenizer, hparams, training=False):
        max_length = hparams.max_seq_length
        first = tokenizer.encode_batch([example.text_a for example in examples])
        has_pair = any(example.text_b is not None for example in examples)
        second = tokenizer.encode_batch([example.text_b or "" for example in examples]) if has_pair else None
        ids, types, mask, truncated = tokenizer.build_batch(first, second, max_length)
        if self.regression:
            labels = np.array([np.nan if e.label is None else e.label for e in examples], np.float32)
        else:
            labels = np.array([-1 if e.label is None else e.label for e in examples], np.int32)
        return Features({"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
                        {"labels": labels}, truncated=truncated)

    def loss(self, labels, outputs):
        logits = outputs["logits"]
        if self.regression:
            return tf.reduce_mean(tf.square(logits[:, 0] - tf.cast(labels["labels"], tf.float32)))
        losses = tf.keras.losses.sparse_categorical_crossentropy(labels["labels"], logits, from_logits=True)
        return tf.reduce_mean(losses)

    def score(self, gold, predicted):
        return {"accuracy": metrics.accuracy(gold, predicted)}

    def evaluate(self, examples, features, outputs):
        logits = np.asarray(outputs["logits"])
        if self.regression:
            predictions = logits[:, 0].astype(np.float64)
        else:
            predictions = logits.argmax(-1)
        gold = [example.label for example in examples]
        if any(label is None for label in gold):
            return {}, predictions
        return self.score(np.asarray(gold), predictions), predictions

    def write_predictions(self, path, examples, predictions):
        from electra_tf import io_utils

        with io_utils.atomic_file(path) as handle:
            handle.write("id\tprediction\n")
            for example, prediction in zip(examples, predictions):
                value = f"{prediction:.6f}" if self.regression else self.labels[int(prediction)]
                handle.write(f"{example.guid}\t{value}\n")


class NsmcTask(SequenceTask):
    name = "nsmc"
    splits = {"train": "ratings_train.txt", "dev": None, "test": "ratings_test.txt"}
    label_names = ["0", "1"]

    def read_file(self, path, errors, data):
        for number, row in read_delimited(path, errors, header=["id", "document", "label"]):
            label = self.parse_label(row["label"], errors, number)
            if label is not None:
                yield ClassificationExample(row["id"], row["document"], None, label)


class PawsTask(SequenceTask):
    name = "paws"
    splits = {"train": "translated_train.tsv", "dev": "dev_2k.tsv", "test": "test_2k.tsv"}
    label_names = ["0", "1"]

    def read_file(self, path, errors, data):
        for number, row in read_delimited(path, errors, header=["id", "sentence1", "sentence2", "label"]):
            if not row["sentence1"].strip() or not row["sentence2"].strip():
                data.skipped += 1  # the suite drops pairs with an empty side
                continue
            label = self.parse_label(row["label"], errors, number)
            if label is not None:
                yield ClassificationExample(row["id"], row["sentence1"], row["sentence2"], label)


class KorNliTask(SequenceTask):
    name = "kornli"
    splits = {"train": "multinli.train.ko.tsv", "dev": "xnli.dev.ko.tsv", "test": "xnli.test.ko.tsv"}
    label_names = ["contradiction", "entailment", "neutral"]

    def read_file(self, path, errors, data):
        for number, row in read_delimited(path, errors, header=["sentence1", "sentence2", "gold_label"]):
            label = self.parse_label(row["gold_label"], errors, number)
            if label is not None:
                yield ClassificationExample(f"{os.path.basename(path)}-{number}", row["sentence1"],
                                            row["sentence2"], label)


class KorStsTask(SequenceTask):
    name = "korsts"
    splits = {"train": "sts-train.tsv", "dev": "sts-dev.tsv", "test": "sts-test.tsv"}
    regression = True
    metric = "spearman"

    def read_file(self, path, errors, data):
        header = ["genre", "filename", "year", "id", "score", "sentence1", "sentence2"]
        for number, row in read_delimited(path, errors, header=header):
            score = self.parse_label(row["score"], errors, number)
            if score is not None:
                yield ClassificationExample(f"{os.path.basename(path)}-{number}", row["sentence1"],
                                            row["sentence2"], score)

    def score(self, gold, predicted):
        return {"spearman": metrics.spearman(gold, predicted), "pearson": metrics.pearson(gold, predicted)}


class QuestionPairTask(SequenceTask):
    name = "question-pair"
    splits = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
    label_names = ["0", "1"]

    def read_file(self, path, errors, data):
        for number, row in read_delimited(path, errors, header=["question1", "question2", "is_duplicate"]):
            label = self.parse_label(row["is_duplicate"], errors, number)
            if label is not None:
                yield ClassificationExample(f"{os.path.basename(path)}-{number}", row["question1"],
                                            row["question2"], label)


class HateSpeechTask(SequenceTask):
    name = "hate-speech"
    splits = {"train": "train.tsv", "dev": "val.tsv", "test": "val.tsv"}
    label_names = ["none", "offensive", "hate"]
    metric = "macro_f1"

    def read_file(self, path, errors, data):
        # The text column is `comment` (`comments` in kocohub's original files).
        for number, row in read_delimited(path, errors, header=["hate"]):
            text = row.get("comment", row.get("comments"))
            if text is None:
                raise BadRowError(f"{path}:1: header needs a 'comment' (or 'comments') column")
            label = self.parse_label(row["hate"], errors, number)
            if label is not None:
                yield ClassificationExample(f"{os.path.basename(path)}-{number}", text, None, label)

    def score(self, gold, predicted):
        return {"macro_f1": metrics.macro_f1(gold, predicted, num_labels=len(self.labels)),
                "accuracy": metrics.accuracy(gold, predicted)}


# Generic tasks over users' files ------------------------------------------------------------------------------

class GenericTask(SequenceTask):
    """`train`/`dev`/`test` `.tsv` (or `.csv`) files with a header in `data_dir`; columns picked by name.

    Labels come from `label_list` or, when none is given, from the train file (sorted; numerically when all
    labels are numbers). A test file without the label column gives predictions but no test metrics."""

    pair = False

    def __init__(self, text_column="text", text_pair_column=None, label_column="label", label_list=None,
                 id_column=None, skip_bad_rows=False):
        super().__init__(skip_bad_rows)
        self.text_column = text_column
        self.text_pair_column = text_pair_column if self.pair else None
        if self.pair and not text_pair_column:
            raise ValueError(f"Task {self.name} needs --text_pair_column")
        self.label_column = label_column
        self.id_column = id_column
        self._labels = list(label_list) if label_list else None

    @property
    def labels(self):
        return None if self.regression else self._labels

    def split_path(self, data_dir, split):
        names = {"train": "train", "dev": "dev", "test": "test"}
        for extension in (".tsv", ".csv"):
            path = os.path.join(data_dir, names[split] + extension)
            if tf.io.gfile.exists(path):
                return path
        if split == "dev":
            return self.split_path(data_dir, "test")
        return os.path.join(data_dir, names[split] + ".tsv")

    def has_split(self, data_dir, split):
        return tf.io.gfile.exists(self.split_path(data_dir, split))

    def prepare(self, data_dir):
        if self.regression or self._labels:
            return
        path = require_file(self.split_path(data_dir, "train"), f"train file of task {self.name}")
        errors = RowErrors(path, skip_bad_rows=True, max_logged=0)
        found = {row[self.label_column].strip()
                 for _, row in self._rows(path, errors, require_label=True)}
        found.discard("")
        if not found:
            raise EmptySplitError(f"{path}: no labels found in column {self.label_column!r}")
        try:
            self._labels = sorted(found, key=float)
        except ValueError:
            self._labels = sorted(found)
        logging.info("Labels collected from %s: %s", path, self._labels)

    def _rows(self, path, errors, require_label):
        delimiter = "," if path.endswith(".csv") else "\t"
        columns = [self.text_column] + ([self.text_pair_column] if self.pair else [])
        if require_label:
            columns.append(self.label_column)
        return read_delimited(path, errors, header=columns, delimiter=delimiter)

    def read_file(self, path, errors, data):
        header = next(read_lines(path), (1, ""))[1]
        delimiter = "," if path.endswith(".csv") else "\t"
        has_label = self.label_column in [name.strip().strip('"') for name in header.split(delimiter)]
        is_train = os.path.basename(path).startswith("train")
        for number, row in self._rows(path, errors, require_label=has_label or is_train):
            label = self.parse_label(row[self.label_column], errors, number) if has_label else None
            if has_label and label is None:
                continue
            guid = row.get(self.id_column) if self.id_column else None
            yield ClassificationExample(guid or f"{os.path.basename(path)}-{number}", row[self.text_column],
                                        row[self.text_pair_column] if self.pair else None, label)


class TextClassificationTask(GenericTask):
    name = "text_classification"


class TextPairClassificationTask(GenericTask):
    name = "text_pair_classification"
    pair = True


class TextRegressionTask(GenericTask):
    name = "text_regression"
    regression = True
    metric = "spearman"

    def __init__(self, text_column="text", text_pair_column=None, label_column="label", label_list=None,
                 id_column=None, skip_bad_rows=False):
        self.pair = bool(text_pair_column)
        super().__init__(text_column, text_pair_column, label_column, None, id_column, skip_bad_rows)

    def score(self, gold, predicted):
        return {"spearman": metrics.spearman(gold, predicted), "pearson": metrics.pearson(gold, predicted),
                "mse": float(np.mean((np.asarray(gold) - np.asarray(predicted)) ** 2))}


# Naver NER 2018 -------------------------------------------------------------------------------------------------

class NaverNerTask(Task):
    """`words<TAB>labels` per line (space-separated, equal counts); a word's label sits on its first
    sub-token, the other sub-tokens are ignored by loss and metric. Words past `max_seq_length` are cut
    (counted in `truncated`) and scored on the words that fit, as the suite does."""

    name = "naver-ner"
    head_type = "token_classification"
    metric = "f1"
    splits = {"train": "train.tsv", "dev": None, "test": "test.tsv"}

    @property
    def labels(self):
        return list(NER_LABELS)

    def read_file(self, path, errors, data):
        mapping = _label_map(self.labels)
        for number, line in read_lines(path):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                errors.bad(number, f"expected 2 columns (words, labels), found {len(fields)}")
                continue
            words, tags = fields[0].split(), fields[1].split()
            if len(words) != len(tags):
                errors.bad(number, f"{len(words)} words but {len(tags)} labels")
                continue
            unknown = [tag for tag in tags if tag not in mapping]
            if unknown:
                errors.bad(number, f"unknown label {unknown[0]!r}")
                continue
            yield TaggingExample(f"{os.path.basename(path)}-{number}", words, [mapping[t] for t in tags])

    def featurize(self, examples, tokenizer, hparams, training=False):
        max_length = hparams.max_seq_length
        count = len(examples)
        ids = np.full((count, max_length), tokenizer.pad_id, np.int32)
        mask = np.zeros((count, max_length), np.int32)
        labels = np.full((count, max_length), IGNORE_INDEX, np.int32)
        word_positions, truncated = [], 0
        all_words = [word for example in examples for word in example.words]
        pieces = iter(tokenizer.encode_batch(all_words))
        for row, example in enumerate(examples):
            tokens, positions = [tokenizer.cls_id], []
            cut = False
            for index in range(len(example.words)):
                word_ids = next(pieces) or [tokenizer.unk_id]
                if cut or len(tokens) + len(word_ids) > max_length - 1:
                    cut = True
                    continue
                positions.append(len(tokens))
                if example.labels is not None:
                    labels[row, len(tokens)] = example.labels[index]
                tokens.extend(word_ids)
            truncated += cut
            tokens.append(tokenizer.sep_id)
            ids[row, :len(tokens)] = tokens
            mask[row, :len(tokens)] = 1
            word_positions.append(positions)
        return Features({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
                        {"labels": labels}, truncated=truncated, meta=word_positions)

    def loss(self, labels, outputs):
        labels = labels["labels"]
        active = tf.cast(labels != IGNORE_INDEX, tf.float32)
        losses = tf.keras.losses.sparse_categorical_crossentropy(
            tf.maximum(labels, 0), outputs["logits"], from_logits=True)
        return tf.reduce_sum(losses * active) / tf.maximum(tf.reduce_sum(active), 1.0)

    def evaluate(self, examples, features, outputs):
        logits = np.asarray(outputs["logits"])
        names = self.labels
        predictions = []
        for row, positions in enumerate(features.meta):
            predictions.append([names[int(index)] for index in logits[row, positions].argmax(-1)])
        if any(example.labels is None for example in examples):
            return {}, predictions
        gold = [[names[index] for index in example.labels[:len(predicted)]]
                for example, predicted in zip(examples, predictions)]
        return metrics.entity_f1(gold, predictions, suffix=True), predictions

    def write_predictions(self, path, examples, predictions):
        from electra_tf import io_utils

        with io_utils.atomic_file(path) as handle:
            for example, predicted in zip(examples, predictions):
                kept = example.words[:len(predicted)]
                handle.write(" ".join(kept) + "\t" + " ".join(predicted) + "\n")


# KorQuAD 1.0 ------------------------------------------------------------------------------------------------------

class KorQuadTask(Task):
    """SQuAD-v1 JSON; sliding windows over the context, answers decoded with n-best / max_answer_length."""

    name = "korquad"
    head_type = "question_answering"
    metric = "f1"
    splits = {"train": "KorQuAD_v1.0_train.json", "dev": "KorQuAD_v1.0_dev.json",
              "test": "KorQuAD_v1.0_dev.json"}

    def read_file(self, path, errors, data):
        return squad.read_squad_json(path, errors)

    def featurize(self, examples, tokenizer, hparams, training=False):
        features = squad.featurize(examples, tokenizer, hparams.max_seq_length, hparams.doc_stride,
                                   hparams.max_query_length, training=training)
        return Features(features.inputs, features.labels, truncated=features.truncated, meta=features)

    def loss(self, labels, outputs):
        start = tf.keras.losses.sparse_categorical_crossentropy(
            labels["start_positions"], outputs["start_logits"], from_logits=True)
        end = tf.keras.losses.sparse_categorical_crossentropy(
            labels["end_positions"], outputs["end_logits"], from_logits=True)
        return tf.reduce_mean((start + end) / 2.0)

    def __init__(self, skip_bad_rows=False, n_best_size=20, max_answer_length=30):
        super().__init__(skip_bad_rows)
        self.n_best_size = n_best_size
        self.max_answer_length = max_answer_length

    def evaluate(self, examples, features, outputs):
        predictions = squad.decode_answers(
            examples, features.meta, np.asarray(outputs["start_logits"]), np.asarray(outputs["end_logits"]),
            n_best_size=self.n_best_size, max_answer_length=self.max_answer_length)
        answers = {example.qid: [text for text, _ in example.answers] for example in examples if example.answers}
        if len(answers) < len(examples):
            return {}, predictions
        return metrics.korquad_scores(answers, predictions), predictions

    def write_predictions(self, path, examples, predictions):
        from electra_tf import io_utils

        io_utils.write_json(path, predictions)


TASKS = {cls.name: cls for cls in (
    NsmcTask, NaverNerTask, PawsTask, KorNliTask, KorStsTask, QuestionPairTask, KorQuadTask, HateSpeechTask,
    TextClassificationTask, TextPairClassificationTask, TextRegressionTask)}
BENCHMARK_TASKS = ["nsmc", "naver-ner", "paws", "kornli", "korsts", "question-pair", "korquad", "hate-speech"]
GENERIC_TASKS = ["text_classification", "text_pair_classification", "text_regression"]


def canonical_name(name):
    """Accepts `naver_ner`, `Naver-NER`, `paws-x`, ... for the registered names."""
    key = name.strip().lower().replace("_", "-")
    aliases = {"paws-x": "paws", "paws-x-ko": "paws", "ner": "naver-ner", "qpair": "question-pair",
               "korean-hate-speech": "hate-speech", "hate": "hate-speech", "korquad-1.0": "korquad",
               "korquad1": "korquad"}
    key = aliases.get(key, key)
    for registered in TASKS:
        if registered.replace("_", "-") == key:
            return registered
    raise ValueError(f"Unknown task {name!r}; choose one of {', '.join(TASKS)}")


def get_task(name, skip_bad_rows=False, **options):
    """A task instance by name; `options` go to the generic tasks (columns, labels) and KorQuAD (decoding)."""
    cls = TASKS[canonical_name(name)]
    if issubclass(cls, GenericTask):
        keys = ("text_column", "text_pair_column", "label_column", "label_list", "id_column")
        return cls(skip_bad_rows=skip_bad_rows, **{k: v for k, v in options.items() if k in keys and v})
    if cls is KorQuadTask:
        keys = ("n_best_size", "max_answer_length")
        return cls(skip_bad_rows=skip_bad_rows, **{k: v for k, v in options.items() if k in keys and v})
    return cls(skip_bad_rows=skip_bad_rows)


__all__ = ["Task", "TASKS", "BENCHMARK_TASKS", "GENERIC_TASKS", "get_task", "canonical_name", "NER_LABELS",
           "BadRowError", "EmptySplitError", "Features", "SplitData", "ClassificationExample", "TaggingExample"]
