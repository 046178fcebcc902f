"""GLUE, read as its download script lays the files out (`--data_dir glue_data/CoLA`, ...): nine table entries
with their metrics, TFDS feature names (`--tfds glue/cola`) and submission files (`OUTPUT_DIR/CoLA.tsv`, ...).

`GlueTask` adds to `SequenceTask` only what GLUE needs beyond a column spec: the submission file, and MNLI's
second (mismatched) dev and test file, read along with the matched one and scored apart.
"""

import dataclasses
import os
from typing import Optional

import numpy as np

from electra_tf import io_utils
from electra_tf.finetuning import metrics as metrics_lib
from electra_tf.finetuning.tasks.base import SplitData
from electra_tf.finetuning.tasks.classification import BINARY, Columns, SequenceTask

NLI_BINARY = ["entailment", "not_entailment"]
_FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}


@dataclasses.dataclass(eq=False)
class GlueTask(SequenceTask):
    """A GLUE task. `submission` maps a subset (None for one-file splits) to its submission file's stem;
    `mismatched` maps `dev`/`test` to the split key of the file read along with them (MNLI), whose rows get
    `subset="mismatched"` (the others `"matched"`) and metrics named `<subset>_<metric>`."""

    submission: dict = None
    mismatched: Optional[dict] = None

    def read(self, data_dir, split):
        data = super().read(data_dir, split)
        other = (self.mismatched or {}).get(split)
        if other is None:
            return data
        extra = super().read(data_dir, other)
        for subset, part in (("matched", data), ("mismatched", extra)):
            for example in part.examples:
                example.subset = subset
        return SplitData(split, data.path, data.examples + extra.examples, data.bad_rows + extra.bad_rows,
                         data.skipped + extra.skipped)

    def evaluate(self, examples, features, outputs):
        if not self.mismatched:
            return super().evaluate(examples, features, outputs)
        predictions = np.asarray(outputs["logits"]).argmax(-1)
        if any(example.label is None for example in examples):
            return {}, predictions
        scores = {}
        for name in self.metrics:
            subset, metric = name.split("_", 1)
            index = [i for i, example in enumerate(examples) if example.subset == subset]
            gold = np.asarray([examples[i].label for i in index])
            scores[name] = metrics_lib.sentence_scores((metric,), gold, predictions[index])[metric]
        return scores, predictions

    def write_submission(self, output_dir, examples, predictions):
        """`<stem>.tsv` per subset: `index<TAB>prediction`, the index from the test file's index column (the
        row position when the file has none), the label as GLUE names it (a float for STS-B)."""
        for subset, stem in self.submission.items():
            rows = [(example, prediction) for example, prediction in zip(examples, predictions)
                    if example.subset == subset]
            with io_utils.atomic_file(os.path.join(output_dir, f"{stem}.tsv")) as handle:
                handle.write("index\tprediction\n")
                for position, (example, prediction) in enumerate(rows):
                    index = example.guid if example.guid.isdigit() else str(position)
                    value = f"{float(prediction):.3f}" if self.regression else self.labels[int(prediction)]
                    handle.write(f"{index}\t{value}\n")


def _pair(first, second, label, labels, tfds_first, tfds_second, **kwargs):
    """Keyword arguments of a sentence-pair entry (header names; `index` identifies test rows)."""
    return dict(labels=labels, columns=Columns(text=first, text_pair=second, label=label, id="index"),
                tfds_columns=Columns(text=tfds_first, text_pair=tfds_second, label="label", id="idx"), **kwargs)


GLUE_TASKS = [
    # CoLA's train/dev have no header (source, label, original label, sentence); its test has (index, sentence)
    GlueTask("cola", _FILES, ("mcc",), BINARY, columns=Columns(text=3, label=1), has_header=False,
             test_columns=Columns(text="sentence", label="label", id="index"),
             tfds_columns=Columns(text="sentence", label="label", id="idx"), submission={None: "CoLA"}),
    GlueTask("sst", _FILES, ("accuracy",), BINARY, columns=Columns(text="sentence", label="label", id="index"),
             tfds_columns=Columns(text="sentence", label="label", id="idx"), submission={None: "SST-2"}),
    # GLUE's train/dev/test.tsv, or (without them) the MSR corpus files, whose labelled test then selects
    GlueTask("mrpc", {"train": ("train.tsv", "msr_paraphrase_train.txt"),
                      "dev": ("dev.tsv", "msr_paraphrase_test.txt"),
                      "test": ("test.tsv", "msr_paraphrase_test.txt")}, ("accuracy", "f1"),
             **_pair("#1 String", "#2 String", "Quality", BINARY, "sentence1", "sentence2",
                     submission={None: "MRPC"})),
    GlueTask("sts", _FILES, ("spearman", "pearson"), regression=True,
             **_pair("sentence1", "sentence2", "score", None, "sentence1", "sentence2", submission={None: "STS-B"})),
    GlueTask("qqp", _FILES, ("accuracy", "f1"), BINARY,
             columns=Columns(text="question1", text_pair="question2", label="is_duplicate", id="id"),
             tfds_columns=Columns(text="question1", text_pair="question2", label="label", id="idx"),
             submission={None: "QQP"}),
    GlueTask("mnli", {"train": "train.tsv", "dev": "dev_matched.tsv", "test": "test_matched.tsv",
                      "dev_mismatched": "dev_mismatched.tsv", "test_mismatched": "test_mismatched.tsv"},
             ("matched_accuracy", "mismatched_accuracy"),
             **_pair("sentence1", "sentence2", "gold_label", ["contradiction", "entailment", "neutral"],
                     "premise", "hypothesis", mismatched={"dev": "dev_mismatched", "test": "test_mismatched"},
                     submission={"matched": "MNLI-m", "mismatched": "MNLI-mm"})),
    GlueTask("qnli", _FILES, ("accuracy",),
             **_pair("question", "sentence", "label", NLI_BINARY, "question", "sentence", submission={None: "QNLI"})),
    GlueTask("rte", _FILES, ("accuracy",),
             **_pair("sentence1", "sentence2", "label", NLI_BINARY, "sentence1", "sentence2",
                     submission={None: "RTE"})),
    GlueTask("wnli", _FILES, ("accuracy",),
             **_pair("sentence1", "sentence2", "label", BINARY, "sentence1", "sentence2", submission={None: "WNLI"})),
]
GLUE_ALIASES = {"sst-2": "sst", "sst2": "sst", "sts-b": "sts", "stsb": "sts", "mnli-m": "mnli"}
