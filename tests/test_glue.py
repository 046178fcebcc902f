"""GLUE: the nine tasks read GLUE's own file layouts (quotes are text), fine-tune end to end with metrics equal
to scikit-learn/scipy on the same predictions, write the submission files, and read a prepared TFDS glue
dataset through the same task definitions."""

import json
import os
from unittest import mock

import numpy as np
import pytest
import tensorflow_datasets as tfds
from scipy import stats
from sklearn import metrics as sk
from support import FIXTURES

from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.readers import BadRowError
from electra_tf.finetuning.tasks import GLUE, get_task
from electra_tf.finetuning.tfds_input import use_tfds
from electra_tf.finetuning.run import finetune

GLUE_DIR = os.path.join(FIXTURES, "glue")
CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "finetune", "tiny.json")
DIRS = {"cola": "CoLA", "sst": "SST-2", "mrpc": "MRPC", "sts": "STS-B", "qqp": "QQP", "mnli": "MNLI",
        "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI"}
# GLUE's layouts, written out independently of the task table: file, then the text, pair and label columns
# (header names; CoLA's train/dev by index); test files have no label.
LAYOUT = {
    "cola": {"train": ("train.tsv", 3, None, 1), "dev": ("dev.tsv", 3, None, 1),
             "test": ("test.tsv", "sentence", None, None)},
    "sst": {"train": ("train.tsv", "sentence", None, "label"), "test": ("test.tsv", "sentence", None, None)},
    "mrpc": {"train": ("train.tsv", "#1 String", "#2 String", "Quality"),
             "test": ("test.tsv", "#1 String", "#2 String", None)},
    "sts": {"train": ("train.tsv", "sentence1", "sentence2", "score"),
            "test": ("test.tsv", "sentence1", "sentence2", None)},
    "qqp": {"train": ("train.tsv", "question1", "question2", "is_duplicate"),
            "test": ("test.tsv", "question1", "question2", None)},
    "mnli": {"train": ("train.tsv", "sentence1", "sentence2", "gold_label"),
             "dev": ("dev_matched.tsv", "sentence1", "sentence2", "gold_label"),
             "dev_mismatched": ("dev_mismatched.tsv", "sentence1", "sentence2", "gold_label"),
             "test": ("test_matched.tsv", "sentence1", "sentence2", None)},
    "qnli": {"train": ("train.tsv", "question", "sentence", "label"),
             "test": ("test.tsv", "question", "sentence", None)},
    "rte": {"train": ("train.tsv", "sentence1", "sentence2", "label"),
            "test": ("test.tsv", "sentence1", "sentence2", None)},
    "wnli": {"train": ("train.tsv", "sentence1", "sentence2", "label"),
             "test": ("test.tsv", "sentence1", "sentence2", None)},
}
SUBMISSIONS = {"cola": ["CoLA"], "sst": ["SST-2"], "mrpc": ["MRPC"], "sts": ["STS-B"], "qqp": ["QQP"],
               "mnli": ["MNLI-m", "MNLI-mm"], "qnli": ["QNLI"], "rte": ["RTE"], "wnli": ["WNLI"]}
VOCABULARY = {"cola": {"0", "1"}, "sst": {"0", "1"}, "mrpc": {"0", "1"}, "qqp": {"0", "1"}, "wnli": {"0", "1"},
              "mnli": {"entailment", "neutral", "contradiction"}, "qnli": {"entailment", "not_entailment"},
              "rte": {"entailment", "not_entailment"}}


def _raw_rows(task_name, file_name):
    """The file's rows as plain tab-split fields (by header name when it has a header)."""
    with open(os.path.join(GLUE_DIR, DIRS[task_name], file_name), encoding="utf-8-sig") as handle:
        lines = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
    if isinstance(LAYOUT[task_name]["train"][1], int) and not file_name.startswith("test"):
        return [dict(enumerate(fields)) for fields in lines]
    return [dict(zip(lines[0], fields)) for fields in lines[1:]]


@pytest.mark.parametrize("task_name", GLUE)
def test_reads_glue_layouts_with_quotes_as_text(task_name):
    task = get_task(task_name)
    data_dir = os.path.join(GLUE_DIR, DIRS[task_name])
    quotes = 0
    for split, (file_name, text, pair, label) in LAYOUT[task_name].items():
        examples = [e for e in task.read(data_dir, split).examples if e.subset in (None, "matched")] \
            if split != "dev_mismatched" else [e for e in task.read(data_dir, "dev").examples
                                               if e.subset == "mismatched"]
        raw = _raw_rows(task_name, file_name)
        assert len(examples) == len(raw)
        for example, row in zip(examples, raw):
            assert example.text_a == row[text]
            assert example.text_b == (row[pair] if pair else None)
            if label is None:
                assert example.label is None
            elif task.regression:
                assert example.label == pytest.approx(float(row[label]))
            else:
                assert task.labels[example.label] == row[label]
            quotes += example.text_a.count('"')
        if split.startswith("test"):
            assert [e.guid for e in examples] == [row.get("index", row.get("id")) for row in raw]
    assert quotes > 0  # stray quotes stayed inside their field


def test_mnli_reads_matched_and_mismatched_apart():
    task = get_task("mnli")
    dev = task.read(os.path.join(GLUE_DIR, "MNLI"), "dev")
    counts = {subset: sum(e.subset == subset for e in dev.examples) for subset in ("matched", "mismatched")}
    assert counts == {"matched": len(_raw_rows("mnli", "dev_matched.tsv")),
                      "mismatched": len(_raw_rows("mnli", "dev_mismatched.tsv"))}


def test_mrpc_reads_the_msr_corpus_files_too():
    task = get_task("mrpc")
    directory = os.path.join(GLUE_DIR, "MRPC-msr")
    train = task.read(directory, "train")
    assert train.path.endswith("msr_paraphrase_train.txt")
    assert train.examples[0].text_a  # the BOM did not hide the Quality column
    assert task.split_path(directory, "dev") == task.split_path(directory, "test")  # the labelled test selects


def test_cola_without_its_header_less_columns_names_the_line(tmp_path):
    (tmp_path / "train.tsv").write_text("gj04\t1\tonly three columns\n", encoding="utf-8")
    with pytest.raises(BadRowError, match=r"train\.tsv:1: expected at least 4 columns"):
        get_task("cola").read(str(tmp_path), "train")


def _expected_scores(task, gold, predictions):
    """Every declared metric recomputed with scikit-learn / scipy."""
    library = {"accuracy": sk.accuracy_score, "f1": sk.f1_score, "mcc": sk.matthews_corrcoef,
               "pearson": lambda g, p: stats.pearsonr(g, p).statistic,
               "spearman": lambda g, p: stats.spearmanr(g, p).statistic}
    return {name: library[name](gold, predictions) for name in task.metrics}


def _check_scores(task, examples, predictions, scores):
    assert list(scores) == list(task.metrics)
    if task.mismatched:
        for name in task.metrics:
            subset, metric = name.split("_", 1)
            index = [i for i, e in enumerate(examples) if e.subset == subset]
            gold = [examples[i].label for i in index]
            assert scores[name] == pytest.approx(sk.accuracy_score(gold, predictions[index]))
        return
    expected = _expected_scores(task, [e.label for e in examples], predictions)
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value if np.isfinite(value) else 0.0), name


@pytest.mark.parametrize("task_name", GLUE)
def test_metrics_equal_the_libraries_on_random_logits(task_name):
    task = get_task(task_name)
    examples = task.read(os.path.join(GLUE_DIR, DIRS[task_name]), "dev").examples
    logits = np.random.default_rng(3).normal(size=(len(examples), len(task.labels or [0])))
    scores, predictions = task.evaluate(examples, None, {"logits": logits})
    _check_scores(task, examples, np.asarray(predictions), scores)


def _read_tsv(path):
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n").split("\t") for line in handle]


@pytest.mark.slow
@pytest.mark.parametrize("task_name", GLUE)
def test_glue_finetune_end_to_end(task_name, tmp_path, init_checkpoint):
    task = get_task(task_name)
    calls = []
    evaluate = task.evaluate

    def recording_evaluate(examples, features, outputs):
        scores, predictions = evaluate(examples, features, outputs)
        calls.append((examples, np.asarray(predictions), scores))
        return scores, predictions

    task.evaluate = recording_evaluate
    hparams = load_hparams(CONFIG, task_name, {"num_train_epochs": 1, "max_steps_per_epoch": 1,
                                               "max_seq_length": 32, "train_batch_size": 8})
    output_dir = str(tmp_path / "out")
    results = finetune(task, hparams, init_checkpoint, os.path.join(GLUE_DIR, DIRS[task_name]), output_dir,
                       progress=False, export=False)

    dev_examples, dev_predictions, dev_scores = calls[0]
    assert results["epochs"][0]["dev"] == dev_scores
    _check_scores(task, dev_examples, dev_predictions, dev_scores)
    assert results["test"] == {}  # GLUE's test files are unlabelled

    test_examples, test_predictions, _ = calls[-1]
    for stem in SUBMISSIONS[task_name]:
        rows = _read_tsv(os.path.join(output_dir, f"{stem}.tsv"))
        assert rows[0] == ["index", "prediction"]
        subset = None if not task.mismatched else ("mismatched" if stem.endswith("-mm") else "matched")
        part = [e for e in test_examples if e.subset == subset]
        test_file = LAYOUT[task_name]["test"][0] if subset != "mismatched" else "test_mismatched.tsv"
        assert len(rows) - 1 == len(part) == len(_raw_rows(task_name, test_file))
        assert [index for index, _ in rows[1:]] == [str(i) for i in range(len(part))]
        values = [value for _, value in rows[1:]]
        if task.regression:
            assert [float(v) for v in values] == pytest.approx(list(test_predictions), abs=1e-3)
        else:
            assert set(values) <= VOCABULARY[task_name]
    predictions = _read_tsv(os.path.join(output_dir, "predictions.tsv"))
    assert len(predictions) - 1 == len(test_examples)


# TFDS -------------------------------------------------------------------------------------------------------


def _prepare_tfds(config, data_dir):
    """The real TFDS glue builder, prepared from the GLUE fixtures instead of its download."""
    builder = tfds.builder(f"glue/{config}", data_dir=data_dir)
    with mock.patch.object(tfds.download.DownloadManager, "download_and_extract", return_value=GLUE_DIR):
        builder.download_and_prepare()
    return builder


@pytest.mark.parametrize("task_name,config,splits", [
    ("cola", "cola", ("train", "dev", "test")),
    ("sts", "stsb", ("train", "test")),
    ("mnli", "mnli", ("train", "dev", "test")),
])
def test_tfds_glue_gives_the_file_rows(task_name, config, splits, tmp_path):
    _prepare_tfds(config, str(tmp_path))
    from_files = get_task(task_name)
    from_tfds = use_tfds(get_task(task_name), f"glue/{config}", str(tmp_path))
    for split in splits:
        expected = from_files.read(os.path.join(GLUE_DIR, DIRS[task_name]), split).examples
        actual = from_tfds.read(None, split).examples
        assert [(e.text_a, e.text_b, e.label, e.subset) for e in actual] == \
            [(e.text_a, e.text_b, e.label, e.subset) for e in expected]
        if split == "test":
            assert [e.guid for e in actual] == [e.guid for e in expected]


def test_tfds_input_runs_the_task_and_names_missing_features(tmp_path, init_checkpoint):
    _prepare_tfds("cola", str(tmp_path / "tfds"))
    task = use_tfds(get_task("cola"), "glue/cola", str(tmp_path / "tfds"))
    hparams = load_hparams(CONFIG, "cola", {"num_train_epochs": 1, "max_steps_per_epoch": 1, "max_seq_length": 32})
    results = finetune(task, hparams, init_checkpoint, None, str(tmp_path / "out"), progress=False, export=False)
    assert results["selection_file"] == "tfds:glue/cola/validation"
    assert "mcc" in results["epochs"][0]["dev"]
    assert len(_read_tsv(str(tmp_path / "out" / "CoLA.tsv"))) == 1 + len(_raw_rows("cola", "test.tsv"))
    with pytest.raises(ValueError, match=r"no feature\(s\) \['premise', 'hypothesis'\]"):
        use_tfds(get_task("mnli"), "glue/cola", str(tmp_path / "tfds"))
    with pytest.raises(FileNotFoundError, match="not prepared"):
        use_tfds(get_task("sst"), "glue/sst2", str(tmp_path / "empty"))


def test_glue_configs_hold_the_electra_paper_settings():
    for size, learning_rate in (("small", 3e-4), ("base", 1e-4)):
        path = os.path.join(os.path.dirname(CONFIG), f"google-electra-{size}.json")
        for task_name in GLUE:
            hparams = load_hparams(path, task_name)
            assert (hparams.learning_rate, hparams.layerwise_lr_decay, hparams.train_batch_size) == (
                learning_rate, 0.8, 32)
            assert hparams.num_train_epochs == (10 if task_name in ("rte", "sts") else 3)
            assert (hparams.warmup_proportion, hparams.weight_decay_rate, hparams.adam_epsilon) == (0.1, 0.01, 1e-6)
        assert "configure_finetuning.py" in json.load(open(path, encoding="utf-8"))["source"]
