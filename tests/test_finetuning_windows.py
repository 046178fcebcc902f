"""Long texts as windows (`long_text: windows`): texts three times `max_seq_length` long are split into windows
whose logits are pooled; evaluation, the predictions file and the SavedModel's raw-text signature agree with
running the model on each window by hand and pooling."""

import csv
import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf
from support import fixture_dir

from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.run import finetune
from electra_tf.finetuning.tasks import get_task
from electra_tf.pretrained import load_pretrained
from electra_tf.finetuning.windows import pool_windows
from electra_tf.serving import ServingModule, latest_version
from electra_tf.tokenization import FastTokenizer, window_batch

MAX_LENGTH, STRIDE = 16, 5


def _hand_windows(ids, max_length, stride):
    """[CLS] window [SEP] of every window: starts 0, stride, 2·stride, … before the last full window's start,
    then that start (the last window ends with the text)."""
    body = max_length - 2
    last = max(len(ids) - body, 0)
    starts = list(range(0, last, stride)) + [last]
    return [[2] + ids[start:start + body] + [3] for start in starts]


def test_window_batch_matches_hand_windows_and_keeps_short_rows_whole():
    long_ids, short_ids = list(range(10, 10 + 3 * MAX_LENGTH)), [7, 8, 9]
    inputs, rows, split = window_batch([long_ids, short_ids], None, MAX_LENGTH, STRIDE, 2, 3, 0)
    expected = _hand_windows(long_ids, MAX_LENGTH, STRIDE) + [[2, 7, 8, 9, 3]]
    assert rows.tolist() == [0] * (len(expected) - 1) + [1] and split == 1
    for found, mask, wanted in zip(inputs["input_ids"], inputs["attention_mask"], expected):
        assert found[:mask.sum()].tolist() == wanted and mask.sum() == len(wanted)
    # a pair that does not fit keeps half the room for B; A's windows fill the rest
    inputs, rows, _ = window_batch([long_ids], [[5] * 40], MAX_LENGTH, STRIDE, 2, 3, 0)
    keep_b = (MAX_LENGTH - 3) // 2
    assert all(row[-keep_b - 1:].tolist() == [5] * keep_b + [3] for row in inputs["input_ids"])
    assert inputs["input_ids"][-1][MAX_LENGTH - 3 - keep_b] == long_ids[-1]


def test_window_settings_are_range_checked():
    for key, value in (("long_text", "slide"), ("window_pooling", "sum"), ("window_stride", 0),
                       ("window_training", "last")):
        with pytest.raises(ValueError, match=key):
            load_hparams(None, None, {key: value})


def _long_texts(count, tokenizer):
    """`count` texts of at least 3 × MAX_LENGTH tokens, made of the generic fixture's sentences."""
    with open(os.path.join(fixture_dir("generic"), "train.csv"), encoding="utf-8") as handle:
        sentences = [row[1] for row in list(csv.reader(handle))[1:]]
    texts = []
    for index in range(count):
        text, offset = "", index
        while len(tokenizer.encode_batch([text])[0]) < 3 * MAX_LENGTH:
            text = f"{text} {sentences[offset % len(sentences)]}".strip()
            offset += 3
        texts.append(text)
    return texts


@pytest.mark.slow
def test_windowed_predictions_and_saved_model_equal_pooling_by_hand(tmp_path, init_checkpoint, pooling="max"):
    import tensorflow_text  # noqa: F401  (the SavedModel's ops)

    tokenizer = FastTokenizer.from_vocab_file(os.path.join(init_checkpoint, "vocab.txt"))
    texts = _long_texts(6, tokenizer)
    for split in ("train", "dev", "test"):
        with open(tmp_path / f"{split}.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "sentence", "topic"])
            for index, text in enumerate(texts):
                writer.writerow([f"{split}-{index}", text, "ab"[index % 2]])
    task = get_task("text_classification", text_column="sentence", label_column="topic", id_column="id")
    hparams = load_hparams(None, None, {"max_seq_length": MAX_LENGTH, "train_batch_size": 4, "num_train_epochs": 1,
                                        "learning_rate": 1e-3, "long_text": "windows", "window_stride": STRIDE,
                                        "window_pooling": pooling, "window_training": "all"})
    output_dir = str(tmp_path / "out")
    results = finetune(task, hparams, init_checkpoint, str(tmp_path), output_dir, progress=False)

    model = load_pretrained(os.path.join(output_dir, "model"), head_type="sequence_classification",
                            network="discriminator")
    pooled, means = [], []
    for text in texts:
        windows = _hand_windows(tokenizer.encode_batch([text])[0], MAX_LENGTH, STRIDE)
        assert len(windows) >= 3
        logits = [model({"input_ids": tf.constant([window]), "attention_mask": tf.ones([1, len(window)], tf.int32),
                         "token_type_ids": tf.zeros([1, len(window)], tf.int32)}, training=False)["logits"][0]
                  for window in windows]
        pooled.append(np.max(logits, axis=0) if pooling == "max" else np.mean(logits, axis=0))
        means.append(np.mean(logits, axis=0))
    pooled = np.array(pooled)
    labels = [["a", "b"][index] for index in pooled.argmax(-1)]

    with open(os.path.join(output_dir, "predictions.tsv"), encoding="utf-8") as handle:
        predicted = [line.split("\t")[1] for line in handle.read().splitlines()[1:]]
    assert predicted == labels
    gold = ["ab"[index % 2] for index in range(len(texts))]
    assert results["test"]["accuracy"] == np.mean(np.array(labels) == np.array(gold))

    served = tf.saved_model.load(latest_version(os.path.join(output_dir, "saved_model")))
    outputs = served.signatures["predict_text"](text=tf.constant(texts))
    assert np.max(np.abs(outputs["logits"].numpy() - pooled)) < 1e-4
    assert outputs["num_windows"].numpy().tolist() == [len(_hand_windows(tokenizer.encode_batch([text])[0],
                                                                         MAX_LENGTH, STRIDE)) for text in texts]
    assert [label.decode() for label in outputs["label"].numpy()] == labels
    # mean pooling, in graph (the module before saving) and on the host
    module = ServingModule(model, os.path.join(output_dir, "model", "vocab.txt"), MAX_LENGTH, windows=(STRIDE, "mean"))
    assert np.max(np.abs(module.predict_text(tf.constant(texts))["logits"].numpy() - np.array(means))) < 1e-4
    features = task.featurize(task.read(str(tmp_path), "test").examples, tokenizer,
                              dataclasses.replace(hparams, window_pooling="mean"))
    window_logits = model(features.inputs, training=False)["logits"].numpy()
    host = pool_windows(window_logits, features.meta.rows, len(texts), features.meta.pooling)
    assert np.max(np.abs(host - np.array(means))) < 1e-4
