"""KLUE (KLUE-benchmark/KLUE) read in its official file formats and scored with the KLUE paper's metrics.

YNAT, KLUE-NLI, KLUE-STS and KLUE-RE are JSON arrays of records (`JsonSequenceTask`: columns name record fields);
KLUE-NER is one character and its BIO tag per line (`CharacterTaggingTask`); KLUE-MRC is SQuAD-style JSON with
unanswerable questions (`qa.QaTask` with `unanswerable=True`). The table entries are `KLUE_TASKS`; DP and DST
are not supported.
"""

import dataclasses
import os
from typing import ClassVar

import numpy as np

from electra_tf import io_utils
from electra_tf.finetuning import metrics
from electra_tf.finetuning.readers import MissingLabelsError, read_json_records, read_lines
from electra_tf.finetuning.tasks.base import Features, label_map, unlabeled_dev_message
from electra_tf.finetuning.tasks.classification import Columns, SequenceTask
from electra_tf.finetuning.tasks.qa import QaTask
from electra_tf.finetuning.tasks.tagging import TaggingExample, TaggingTask, token_arrays

YNAT_LABELS = ["IT과학", "경제", "사회", "생활문화", "세계", "스포츠", "정치"]
NLI_LABELS = ["entailment", "neutral", "contradiction"]
NER_LABELS = ["B-PS", "I-PS", "B-LC", "I-LC", "B-OG", "I-OG", "B-DT", "I-DT", "B-TI", "I-TI", "B-QT", "I-QT", "O"]
# relation_list.json of KLUE-RE v1.1, in its order
RE_LABELS = [
    "no_relation", "org:dissolved", "org:founded", "org:place_of_headquarters", "org:alternate_names",
    "org:member_of", "org:members", "org:political/religious_affiliation", "org:product", "org:founded_by",
    "org:top_members/employees", "org:number_of_employees/members", "per:date_of_birth", "per:date_of_death",
    "per:place_of_birth", "per:place_of_death", "per:place_of_residence", "per:origin", "per:employee_of",
    "per:schools_attended", "per:alternate_names", "per:parents", "per:children", "per:siblings", "per:spouse",
    "per:other_family", "per:colleagues", "per:product", "per:religion", "per:title"]


def _files(name):
    """KLUE v1.1's file names; its test sets are not public, so the dev file is also the test file."""
    extension = "tsv" if name == "klue-ner" else "json"
    dev = f"{name}-v1.1_dev.{extension}"
    return {"train": f"{name}-v1.1_train.{extension}", "dev": dev, "test": dev}


def _field(record, name):
    """`record[name]`, a dotted name reaching into nested objects; None when absent."""
    for key in name.split("."):
        if not isinstance(record, dict) or key not in record:
            return None
        record = record[key]
    return record


@dataclasses.dataclass(eq=False)
class JsonSequenceTask(SequenceTask):
    """A `SequenceTask` over a JSON array of records: `columns` name record fields (`labels.label` reaches into
    a nested object). A record without the label is unlabelled (test), and an error in the dev split."""

    def _rows(self, path, errors, split):
        for number, record in read_json_records(path):
            row = self._row(record, number, errors, split, path)
            if row is not None:
                yield number, row

    def _row(self, record, number, errors, split, path):
        """The record's `{"text", "text_pair", "label", "id": str}`, or None after reporting a bad record."""
        row = {}
        for key, name in self.columns.named().items():
            value = _field(record, name)
            if value is None and key == "label" and split.startswith("dev"):
                raise MissingLabelsError(unlabeled_dev_message(path, self.name, f"has a record without {name!r}"))
            if value is None and (key == "id" or (key == "label" and split != "train")):
                continue
            if key.startswith("text") and not isinstance(value, str):
                errors.bad(number, f"record needs a string {name!r}")
                return None
            if value is None:
                errors.bad(number, f"record has no {name!r}")
                return None
            row[key] = str(value)
        return row


@dataclasses.dataclass(eq=False)
class RelationTask(JsonSequenceTask):
    """KLUE-RE: the sentence with its subject and object marked by typed entity markers made of punctuation
    (`@ * PER * 비틀즈 @`, `# ^ ORG ^ 애플 #`; Zhou and Chen 2021), which need no new vocabulary entries; scored by
    micro F1 without `no_relation` and by the mean per-class area under the precision-recall curve."""

    def _row(self, record, number, errors, split, path):
        row = super()._row(record, number, errors, split, path)
        if row is None:
            return None
        spans = []
        for role, (outer, inner) in (("subject_entity", ("@", "*")), ("object_entity", ("#", "^"))):
            entity = record.get(role)
            try:
                start, end, word, kind = (int(entity["start_idx"]), int(entity["end_idx"]), str(entity["word"]),
                                          str(entity["type"]))
            except (KeyError, TypeError, ValueError):
                errors.bad(number, f"{role} needs start_idx, end_idx, word and type")
                return None
            if row["text"][start:end + 1] != word:
                errors.bad(number, f"{role} {word!r} is not at characters {start}..{end} of the sentence")
                return None
            spans.append((start, end + 1, f" {outer} {inner} {kind} {inner} ", f" {outer} "))
        if spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]:
            errors.bad(number, "subject and object entities overlap")
            return None
        text = row["text"]
        for start, end, opening, closing in sorted(spans, reverse=True):
            text = text[:start] + opening + text[start:end] + closing + text[end:]
        row["text"] = " ".join(text.split())
        return row

    def evaluate(self, examples, features, outputs):
        logits = np.asarray(outputs["logits"], np.float64)
        predictions = logits.argmax(-1)
        if any(example.label is None for example in examples):
            return {}, predictions
        gold = np.asarray([example.label for example in examples])
        probabilities = np.exp(logits - logits.max(-1, keepdims=True))
        probabilities /= probabilities.sum(-1, keepdims=True)
        scores = {"micro_f1": metrics.micro_f1_without(gold, predictions, len(self.labels),
                                                       self.labels.index("no_relation")),
                  "auprc": metrics.auprc(gold, probabilities)}
        return {name: scores[name] for name in self.metrics}, predictions


@dataclasses.dataclass
class CharacterMeta:
    """Per row, where each kept sub-token sits: `(position, char_start, char_end)`, and how many of the
    sentence's characters the kept sub-tokens reach (the rest are cut by max_seq_length and not scored)."""

    spans: list
    reach: list


@dataclasses.dataclass(eq=False)
class CharacterTaggingTask(TaggingTask):
    """KLUE-NER: `## guid<TAB>annotated sentence`, then one `character<TAB>tag` line per character (spaces
    included), a blank line after each sentence. Each sub-token learns its first character's tag; a predicted
    sub-token tag covers its characters (`B-X` on the first, `I-X` on the others) and the metrics are over the
    non-space characters the kept sub-tokens reach, as KLUE's evaluation code scores them."""


    def read_file(self, path, errors, data):
        mapping = label_map(self.labels)
        guid, chars, tags, start, bad = None, [], [], None, False
        for number, line in [*read_lines(path), (None, "")]:
            if line.startswith("##"):
                if "\t" in line:
                    guid = line[2:].split("\t")[0].strip()
                continue
            if not line.strip():
                if chars and not bad:
                    yield TaggingExample(guid or f"{os.path.basename(path)}-{start}", chars,
                                         [mapping[tag] for tag in tags])
                guid, chars, tags, start, bad = None, [], [], None, False
                continue
            start = start or number
            fields = line.split("\t")
            if bad:
                continue
            if len(fields) != 2 or len(fields[0]) != 1:
                errors.bad(number, f"expected one character, a tab and its tag, found {line!r}")
                bad = True
            elif fields[1] not in mapping:
                errors.bad(number, f"unknown tag {fields[1]!r} (known: {', '.join(self.labels)})")
                bad = True
            else:
                chars.append(fields[0])
                tags.append(fields[1])

    def featurize(self, examples, tokenizer, hparams, training=False):
        max_length = hparams.max_seq_length
        ids, mask, labels = token_arrays(len(examples), max_length, tokenizer.pad_id)
        meta, truncated = CharacterMeta([], []), 0
        encoded = tokenizer.encode_with_offsets(["".join(example.words) for example in examples])
        for row, (example, (token_ids, offsets)) in enumerate(zip(examples, encoded)):
            kept = min(len(token_ids), max_length - 2)
            truncated += kept < len(token_ids)
            tokens = [tokenizer.cls_id, *token_ids[:kept], tokenizer.sep_id]
            ids[row, :len(tokens)] = tokens
            mask[row, :len(tokens)] = 1
            spans = [(position + 1, start, end) for position, (start, end) in enumerate(offsets[:kept])]
            if example.labels is not None:
                for position, start, _ in spans:
                    labels[row, position] = example.labels[start]
            meta.spans.append(spans)
            if kept == len(token_ids):
                meta.reach.append(len(example.words))
            else:
                meta.reach.append(spans[-1][2] if spans else 0)
        return Features({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
                        {"labels": labels}, truncated=truncated, meta=meta)

    def evaluate(self, examples, features, outputs):
        logits = np.asarray(outputs["logits"])
        predictions = [self._character_tags(example, spans, logits[row])
                       for row, (example, spans) in enumerate(zip(examples, features.meta.spans))]
        if any(example.labels is None for example in examples):
            return {}, predictions
        gold, predicted = [], []
        for example, tags, reach in zip(examples, predictions, features.meta.reach):
            scored = [index for index in range(reach) if example.words[index] != " "]
            gold.append([self.labels[example.labels[index]] for index in scored])
            predicted.append([tags[index] for index in scored])
        scores = {"entity_macro_f1": metrics.entity_macro_f1(gold, predicted),
                  "char_macro_f1": metrics.character_macro_f1(gold, predicted, self.labels)}
        return {name: scores[name] for name in self.metrics}, predictions

    def _character_tags(self, example, spans, logits):
        """The predicted tag of every character of the sentence (`O` where no kept sub-token reaches)."""
        tags = ["O"] * len(example.words)
        for position, start, end in spans:
            tag = self.labels[int(logits[position].argmax())]
            tags[start] = tag
            inside = "O" if tag == "O" else "I-" + tag.split("-", 1)[1]
            tags[start + 1:end] = [inside] * (end - start - 1)
        return tags

    def write_predictions(self, path, examples, predictions):
        """The official format: `## guid<TAB>sentence`, then each character with its predicted tag."""
        with io_utils.atomic_file(path) as handle:
            for example, tags in zip(examples, predictions):
                handle.write(f"## {example.guid}\t{''.join(example.words)}\n")
                handle.write("".join(f"{char}\t{tag}\n" for char, tag in zip(example.words, tags)))
                handle.write("\n")


KLUE_TASKS = [
    JsonSequenceTask("ynat", _files("ynat"), ("macro_f1", "accuracy"), YNAT_LABELS,
                     columns=Columns(text="title", label="label", id="guid")),
    JsonSequenceTask("klue-nli", _files("klue-nli"), ("accuracy",), NLI_LABELS,
                     columns=Columns(text="premise", text_pair="hypothesis", label="gold_label", id="guid")),
    JsonSequenceTask("klue-sts", _files("klue-sts"), ("pearson", "binary_f1"), regression=True,
                     columns=Columns(text="sentence1", text_pair="sentence2", label="labels.label", id="guid")),
    CharacterTaggingTask("klue-ner", _files("klue-ner"), ("entity_macro_f1", "char_macro_f1"), NER_LABELS),
    RelationTask("klue-re", _files("klue-re"), ("micro_f1", "auprc"), RE_LABELS,
                 columns=Columns(text="sentence", label="label", id="guid")),
    QaTask("klue-mrc", _files("klue-mrc"), ("rouge_w", "exact_match"), unanswerable=True, id_field="guid"),
]
KLUE = [task.name for task in KLUE_TASKS]
KLUE_ALIASES = {"klue-ynat": "ynat", "klue-tc": "ynat"}
