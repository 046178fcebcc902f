"""Token classification (Naver NER 2018): `words<TAB>labels` per line, a word's label on its first sub-token."""

import dataclasses
import os
from typing import ClassVar, Optional

import numpy as np
import tensorflow as tf

from electra_tf import io_utils
from electra_tf.finetuning import metrics
from electra_tf.finetuning.readers import read_lines
from electra_tf.finetuning.tasks.base import Features, Task, label_map

IGNORE_INDEX = -100  # label of positions that do not count in the token-classification loss / metric

NER_LABELS = ["O"] + [f"{entity}-{tag}" for entity in (
    "PER", "FLD", "AFW", "ORG", "LOC", "CVL", "DAT", "TIM", "NUM", "EVT", "ANM", "PLT", "MAT", "TRM")
    for tag in ("B", "I")]


def token_arrays(count, max_length, pad_id):
    """Padded int32 `input_ids`, `attention_mask` and `labels` (all IGNORE_INDEX) of `count` rows."""
    return (np.full((count, max_length), pad_id, np.int32), np.zeros((count, max_length), np.int32),
            np.full((count, max_length), IGNORE_INDEX, np.int32))


@dataclasses.dataclass
class TaggingExample:
    guid: str
    words: list
    labels: Optional[list] = None  # label indices per word


@dataclasses.dataclass(eq=False)
class TaggingTask(Task):
    """`words<TAB>labels` per line (space-separated, equal counts); the other sub-tokens of a word are ignored
    by loss and metric. Words past `max_seq_length` are cut (counted in `truncated`) and scored on the words
    that fit, as the suite does."""

    head_type: ClassVar[str] = "token_classification"
    sequence_labels: ClassVar[tuple] = ("labels",)
    sequence_outputs: ClassVar[tuple] = ("logits",)

    def read_file(self, path, errors, data):
        mapping = label_map(self.labels)
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
        ids, mask, labels = token_arrays(len(examples), max_length, tokenizer.pad_id)
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

    def synthetic_labels(self, rows, length, rng):
        return {"labels": rng.integers(0, len(self.labels), (rows, length)).astype(np.int32)}

    def example_losses(self, labels, outputs):
        return tf.keras.losses.sparse_categorical_crossentropy(
            tf.maximum(labels["labels"], 0), tf.cast(outputs["logits"], tf.float32), from_logits=True)

    def loss_weights(self, labels, row_weights):
        """Every labelled token of a real row weighs 1 (the loss is the mean over labelled tokens)."""
        return tf.cast(labels["labels"] != IGNORE_INDEX, tf.float32) * row_weights[:, None]

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
        with io_utils.atomic_file(path) as handle:
            for example, predicted in zip(examples, predictions):
                kept = example.words[:len(predicted)]
                handle.write(" ".join(kept) + "\t" + " ".join(predicted) + "\n")
