"""One short fine-tune per task, end to end: results, predictions, and an exported transformers directory
that transformers' matching TF class loads with the same logits as ours (<= 1e-5)."""

import csv
import json
import os
import sys

import numpy as np
import pytest
from support import fixture_dir

from electra_tf.finetuning.tasks import BENCHMARK_TASKS, get_task
from electra_tf.finetuning.config import load_hparams
from electra_tf import serving
from electra_tf.finetuning.run import finetune
from electra_tf.pretrained import load_pretrained
from electra_tf.tokenization import FastTokenizer

TRANSFORMERS_CLASSES = {
    "sequence_classification": "TFElectraForSequenceClassification",
    "token_classification": "TFElectraForTokenClassification",
    "question_answering": "TFElectraForQuestionAnswering",
}
CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "finetune", "tiny.json")
SAVED_MODEL_CASE = "nsmc"  # the one case whose export writes a real SavedModel too


def _generic_regression_dir(tmp_path):
    """The KorSTS fixture rewritten as a user's TSV with other column names (a text_regression task)."""
    directory = tmp_path / "sts_user"
    directory.mkdir()
    for split, name in (("train", "sts-train.tsv"), ("dev", "sts-dev.tsv"), ("test", "sts-test.tsv")):
        with open(os.path.join(fixture_dir("korsts"), name), encoding="utf-8") as handle:
            rows = [line.split("\t") for line in handle.read().splitlines()[1:]]
        with open(directory / f"{split}.tsv", "w", encoding="utf-8") as handle:
            handle.write("left\tright\tsimilarity\n")
            for row in rows:
                handle.write(f"{row[5]}\t{row[6]}\t{row[4]}\n")
    return str(directory)


CASES = {name: dict(task=name, data=name) for name in BENCHMARK_TASKS}
CASES["text_classification"] = dict(task="text_classification", data="generic",
                                    options=dict(text_column="sentence", label_column="topic", id_column="id"))
CASES["text_regression"] = dict(task="text_regression", data=None,
                                options=dict(text_column="left", text_pair_column="right",
                                             label_column="similarity"))


def _record_saved_model_exports(monkeypatch):
    """Replaces the SavedModel half of fine-tuning's export by a recorder of its base directories: tracing the
    serving graph costs about as much as the short fine-tune, and tests/test_serving.py checks it for each head."""
    calls = []

    def record(model, base_dir, vocab_file, **kwargs):
        calls.append(base_dir)
        return os.path.join(base_dir, "1")

    for module in list(sys.modules.values()):
        if (getattr(module, "__name__", "").startswith("electra_tf.finetuning")
                and getattr(module, "export_saved_model", None) is serving.export_saved_model):
            monkeypatch.setattr(module, "export_saved_model", record)
    return calls


def _prediction_rows(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_short_finetune_and_export(case, tmp_path, init_checkpoint, monkeypatch):
    import transformers

    spec = CASES[case]
    data_dir = fixture_dir(spec["data"]) if spec["data"] else _generic_regression_dir(tmp_path)
    task = get_task(spec["task"], **spec.get("options", {}))
    hparams = load_hparams(CONFIG, spec["task"], {"num_train_epochs": 1, "max_steps_per_epoch": 2,
                                                  "logging_steps": 1})
    output_dir = str(tmp_path / "out")
    saved_models = [] if case == SAVED_MODEL_CASE else _record_saved_model_exports(monkeypatch)
    results = finetune(task, hparams, init_checkpoint, data_dir, output_dir, progress=False)
    if case == SAVED_MODEL_CASE:
        assert os.path.exists(os.path.join(results["saved_model_dir"], "saved_model.pb"))
    else:
        assert saved_models == [os.path.join(output_dir, "saved_model")]

    # eval_results.json: one epoch of dev metrics incl. the task's metric, best epoch, test metrics
    saved = json.load(open(os.path.join(output_dir, "eval_results.json"), encoding="utf-8"))
    assert saved["task"] == task.name and len(saved["epochs"]) == 1
    assert task.metric in saved["epochs"][0]["dev"] and np.isfinite(saved["epochs"][0]["train_loss"])
    batches = -(-saved["data"]["train"]["features"] // hparams.train_batch_size)
    assert saved["epochs"][0]["global_step"] == min(2, batches)
    assert saved["best"]["epoch"] == 1 and task.metric in saved["test"]
    assert saved["data"]["train"]["examples"] > 0
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(os.path.join(output_dir, "logs")))

    # predictions for every test example
    test = task.read(data_dir, "test")
    prediction_path = results["predictions_file"]
    if task.head_type == "question_answering":
        predictions = json.load(open(prediction_path, encoding="utf-8"))
        assert sorted(predictions) == sorted(e.qid for e in test.examples)
    else:
        rows = _prediction_rows(prediction_path)
        assert len(rows) == len(test.examples) + (task.head_type == "sequence_classification")

    # the exported directory: transformers' TF class gives our logits
    model_dir = os.path.join(output_dir, "model")
    config = json.load(open(os.path.join(model_dir, "config.json"), encoding="utf-8"))
    if task.labels and task.head_type != "question_answering":
        assert [config["id2label"][str(i)] for i in range(len(task.labels))] == task.labels
    if getattr(task, "regression", False):
        assert len(config["id2label"]) == 1
    tokenizer = FastTokenizer.from_vocab_file(os.path.join(model_dir, "vocab.txt"))
    features = task.featurize(test.examples, tokenizer, hparams)
    inputs = {key: value[:6] for key, value in features.inputs.items()}
    ours = load_pretrained(model_dir)
    assert ours.head_type == task.head_type
    our_outputs = ours(inputs, training=False)
    theirs = getattr(transformers, TRANSFORMERS_CLASSES[task.head_type]).from_pretrained(model_dir)
    their_outputs = theirs(inputs, training=False)
    for key, value in our_outputs.items():
        np.testing.assert_allclose(np.asarray(value), their_outputs[key].numpy(), atol=1e-5, rtol=0)

    # the exported weights are the ones that produced the predictions
    if task.head_type == "sequence_classification" and not getattr(task, "regression", False):
        predicted = np.asarray(their_outputs["logits"]).argmax(-1)
        written = [row.split("\t")[1] for row in _prediction_rows(prediction_path)[1:7]]
        assert [task.labels[i] for i in predicted] == written


def test_generic_csv_with_label_list_and_unlabelled_test(tmp_path, init_checkpoint):
    """A user's CSV whose test file has no label column: predictions, no test metrics."""
    source = fixture_dir("generic")
    for split in ("train", "dev"):
        (tmp_path / f"{split}.csv").write_bytes(open(os.path.join(source, f"{split}.csv"), "rb").read())
    with open(os.path.join(source, "test.csv"), encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    with open(tmp_path / "test.csv", "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([row[:2] for row in rows])
    task = get_task("text_classification", text_column="sentence", label_column="topic", id_column="id",
                    label_list=["날씨", "경제", "스포츠"])
    hparams = load_hparams(CONFIG, None, {"num_train_epochs": 1, "max_steps_per_epoch": 1})
    results = finetune(task, hparams, init_checkpoint, str(tmp_path), str(tmp_path / "out"), progress=False,
                       export=False)
    assert results["test"] == {}
    lines = _prediction_rows(results["predictions_file"])
    assert lines[0] == "id\tprediction" and len(lines) == len(rows)
    assert lines[1].split("\t")[0] == "test-0" and lines[1].split("\t")[1] in task.labels
    assert not os.path.exists(tmp_path / "out" / "model")


def test_hparams_resolution_and_errors(tmp_path):
    small = os.path.join(os.path.dirname(CONFIG), "koelectra-small-v3.json")
    base = os.path.join(os.path.dirname(CONFIG), "koelectra-base-v3.json")
    assert load_hparams(small, "kornli").train_batch_size == 128
    assert load_hparams(base, "kornli").train_batch_size == 64
    paws = load_hparams(small, "paws", '{"num_train_epochs": 2}')
    assert (paws.learning_rate, paws.train_batch_size, paws.num_train_epochs) == (3e-5, 64, 2)
    assert load_hparams(small, "korquad").max_seq_length == 512
    assert load_hparams(small, "naver_ner").num_train_epochs == 20
    assert load_hparams(small, "nsmc").adam_epsilon == 1e-8
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        load_hparams(small, "nsmc", {"learning_rte": 1e-4})
    with pytest.raises(ValueError, match="not valid JSON"):
        load_hparams(None, None, "{lr: 1}")


@pytest.mark.slow
def test_xla_finetune_runs_with_padding_kept(tmp_path, init_checkpoint):
    """Under jit_compile the dense layers keep the padding (XLA needs static shapes for dropout masks)."""
    task = get_task("nsmc")
    hparams = load_hparams(CONFIG, "nsmc", {"num_train_epochs": 1, "max_steps_per_epoch": 2})
    results = finetune(task, hparams, init_checkpoint, fixture_dir("nsmc"), str(tmp_path / "out"),
                       jit_compile=True, progress=False, export=False)
    saved = json.load(open(os.path.join(tmp_path, "out", "eval_results.json"), encoding="utf-8"))
    assert saved["epochs"][0]["global_step"] == 2 and np.isfinite(saved["epochs"][0]["train_loss"])
    assert os.path.exists(results["predictions_file"])
