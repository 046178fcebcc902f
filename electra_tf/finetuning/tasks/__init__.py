"""The fine-tuning tasks, declared in one table: files per split, columns, labels, metrics and head family.

`get_task(name, **options)` returns a task from `TASKS`: the eight KoELECTRA benchmark tasks (`nsmc`,
`naver-ner`, `paws`, `kornli`, `korsts`, `question-pair`, `korquad`, `hate-speech`) and the generic
`text_classification`, `text_pair_classification`, `text_regression` over any TSV/CSV with named columns, and
the nine GLUE tasks (`cola`, `sst`, `mrpc`, `sts`, `qqp`, `mnli`, `qnli`, `rte`, `wnli`; see `glue`) and KLUE's
(`ynat`, `klue-nli`, `klue-sts`, `klue-ner`, `klue-re`, `klue-mrc`; see `klue`) in their official formats.
A new TSV task is one more `SequenceTask(...)` entry (columns by header name, or by index with
`has_header=False`). Families: `classification` (sentence / pair classification and regression), `tagging`
(NER), `qa` (KorQuAD).
"""

import dataclasses

from electra_tf.finetuning.readers import BadRowError, EmptySplitError, MissingLabelsError
from electra_tf.finetuning.tasks.base import Features, SplitData, Task
from electra_tf.finetuning.tasks.classification import BINARY, ClassificationExample, Columns, SequenceTask
from electra_tf.finetuning.tasks.glue import GLUE_ALIASES, GLUE_TASKS, GlueTask
from electra_tf.finetuning.tasks.klue import KLUE, KLUE_ALIASES, KLUE_TASKS
from electra_tf.finetuning.tasks.qa import QaTask
from electra_tf.finetuning.tasks.tagging import IGNORE_INDEX, NER_LABELS, TaggingExample, TaggingTask

_USER_FILES = {split: (f"{split}.tsv", f"{split}.csv") for split in ("train", "test")}
_USER_FILES["dev"] = ("dev.tsv", "dev.csv") + _USER_FILES["test"]  # no dev file: the test file selects

TASKS = {task.name: task for task in (
    SequenceTask("nsmc", {"train": "ratings_train.txt", "dev": None, "test": "ratings_test.txt"}, ("accuracy",),
                 BINARY, columns=Columns(text="document", label="label", id="id")),
    TaggingTask("naver-ner", {"train": "train.tsv", "dev": None, "test": "test.tsv"}, ("f1",), NER_LABELS),
    SequenceTask("paws", {"train": "translated_train.tsv", "dev": "dev_2k.tsv", "test": "test_2k.tsv"},
                 ("accuracy",), BINARY, skip_empty_text=True,
                 columns=Columns(text="sentence1", text_pair="sentence2", label="label", id="id")),
    SequenceTask("kornli", {"train": "multinli.train.ko.tsv", "dev": "xnli.dev.ko.tsv", "test": "xnli.test.ko.tsv"},
                 ("accuracy",), ["contradiction", "entailment", "neutral"],
                 columns=Columns(text="sentence1", text_pair="sentence2", label="gold_label")),
    SequenceTask("korsts", {"train": "sts-train.tsv", "dev": "sts-dev.tsv", "test": "sts-test.tsv"},
                 ("spearman", "pearson"), regression=True,
                 columns=Columns(text="sentence1", text_pair="sentence2", label="score")),
    SequenceTask("question-pair", {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}, ("accuracy",),
                 BINARY, columns=Columns(text="question1", text_pair="question2", label="is_duplicate")),
    QaTask("korquad", {"train": "KorQuAD_v1.0_train.json", "dev": "KorQuAD_v1.0_dev.json",
                       "test": "KorQuAD_v1.0_dev.json"}, ("f1",)),
    # kocohub's original files call the text column `comments`
    SequenceTask("hate-speech", {"train": "train.tsv", "dev": "val.tsv", "test": "val.tsv"},
                 ("macro_f1", "accuracy"), ["none", "offensive", "hate"],
                 columns=Columns(text=("comment", "comments"), label="hate")),
    # Users' own files; get_task fills in the columns and labels (collected from train when not given).
    SequenceTask("text_classification", _USER_FILES, ("accuracy",), columns=Columns(text="text", label="label")),
    SequenceTask("text_pair_classification", _USER_FILES, ("accuracy",),
                 columns=Columns(text="text", text_pair="text_pair", label="label")),
    SequenceTask("text_regression", _USER_FILES, ("spearman", "pearson", "mse"), regression=True,
                 columns=Columns(text="text", label="label")),
    *GLUE_TASKS,
    *KLUE_TASKS,
)}
BENCHMARK_TASKS = ["nsmc", "naver-ner", "paws", "kornli", "korsts", "question-pair", "korquad", "hate-speech"]
GLUE = [task.name for task in GLUE_TASKS]
_USER_TASKS = ("text_classification", "text_pair_classification", "text_regression")
_USER_OPTIONS = ("text_column", "text_pair_column", "label_column", "label_list", "id_column")

_ALIASES = {"paws-x": "paws", "paws-x-ko": "paws", "ner": "naver-ner", "qpair": "question-pair",
            "korean-hate-speech": "hate-speech", "hate": "hate-speech", "korquad-1.0": "korquad",
            "korquad1": "korquad", **GLUE_ALIASES, **KLUE_ALIASES}


def canonical_name(name):
    """Accepts `naver_ner`, `Naver-NER`, `paws-x`, ... for the registered names."""
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    for registered in TASKS:
        if registered.replace("_", "-") == key:
            return registered
    raise ValueError(f"Unknown task {name!r}; choose one of {', '.join(TASKS)}")


def get_task(name, skip_bad_rows=False, **options):
    """A fresh task instance by name. `options` (`text_column`, `text_pair_column`, `label_column`,
    `label_list`, `id_column`; empty values are ignored) set the columns and labels of the generic tasks;
    the benchmark tasks' files are fixed, so they ignore them."""
    unknown = sorted(set(options) - set(_USER_OPTIONS))
    if unknown:
        raise ValueError(f"get_task: unknown option(s) {unknown}; known: {list(_USER_OPTIONS)}")
    template = TASKS[canonical_name(name)]
    task = dataclasses.replace(template, skip_bad_rows=skip_bad_rows,
                               labels=list(template.labels) if template.labels else None)
    if task.name not in _USER_TASKS:
        return task
    options = {key: value for key, value in options.items() if value}
    pair = options.get("text_pair_column")
    if task.name == "text_pair_classification" and not pair:
        raise ValueError(f"Task {task.name} needs --text_pair_column")
    if task.name == "text_classification":
        pair = None
    task.columns = Columns(text=options.get("text_column", "text"), text_pair=pair,
                           label=options.get("label_column", "label"), id=options.get("id_column"))
    if not task.regression and options.get("label_list"):
        task.labels = list(options["label_list"])
    return task


__all__ = ["Task", "SequenceTask", "GlueTask", "GLUE", "KLUE", "TaggingTask",
           "QaTask", "Columns", "TASKS", "BENCHMARK_TASKS", "get_task",
           "canonical_name", "NER_LABELS", "IGNORE_INDEX", "BadRowError", "EmptySplitError",
           "MissingLabelsError", "Features", "SplitData", "ClassificationExample", "TaggingExample"]
