"""Static shapes (--jit_compile, and TPUStrategy by the same rule): a train set of 1,001 rows in batches of 32 is
trained, evaluated and predicted row for row exactly once, with one trace per compiled loop and batch width."""

import os

import numpy as np
import pytest
import tensorflow as tf
from support import write_topic_splits

from electra_tf.distribute import default_precision
from electra_tf.finetuning import batching
from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.tasks import get_task
from electra_tf.finetuning.run import build_tuner, featurize_splits, finetune, read_splits
from electra_tf.pretrained import load_pretrained
from electra_tf.tokenization import FastTokenizer

ROWS = 1001
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "classifier_dropout": 0.0}


def _write_rows(directory, count=ROWS):
    """train/dev/test CSVs of `count` rows each, cycling the generic fixture's sentences (ids in order)."""
    return write_topic_splits(directory, count)


def _task():
    return get_task("text_classification", text_column="sentence", label_column="topic", id_column="id")


def _hparams(**overrides):
    values = {"max_seq_length": 16, "train_batch_size": 32, "eval_batch_size": 64, "num_train_epochs": 1,
              "learning_rate": 1e-3, "steps_per_execution": 4, "logging_steps": 1000, **overrides}
    return load_hparams(None, None, values)


def _tuner(init_checkpoint, task, hparams, data_dir, jit_compile):
    splits = read_splits(task, data_dir)
    tokenizer = FastTokenizer.from_vocab_file(os.path.join(init_checkpoint, "vocab.txt"))
    features, _ = featurize_splits(task, splits, tokenizer, hparams)
    tf.keras.utils.set_random_seed(hparams.seed)
    return build_tuner(task, hparams, init_checkpoint, len(features["train"]), tf.distribute.get_strategy(),
                       jit_compile), features


def _train_one_epoch(tuner, features, epoch=1):
    batches = tuner.train_dataset(features["train"], epoch)
    while len(batches):
        tuner.train(batches, tuner.hparams.steps_per_execution)


def test_static_batches_cover_every_row_once(tmp_path, init_checkpoint):
    task, hparams = _task(), _hparams(bucket_width=4)
    tuner, features = _tuner(init_checkpoint, task, hparams, _write_rows(tmp_path), jit_compile=True)
    assert tuner.static_shapes and not tuner.model.electra.skip_padding
    seen, batches = [], []
    for inputs, labels, weights, _ in tuner.train_dataset(features["train"], 1):
        width = inputs["input_ids"].shape[1]
        assert width in (8, 12) and inputs["input_ids"].shape == (32, width) and weights.shape == (32,)
        ids = np.pad(inputs["input_ids"].numpy(), [(0, 0), (0, 16 - width)])  # [PAD] is id 0
        batches.append(ids)
        seen.extend(ids[weights.numpy() == 1.0].tolist())
        assert set(weights.numpy().tolist()) <= {0.0, 1.0}
    assert len(batches) == 32 and {ids.shape[1] for ids in batches} == {16}
    assert len(seen) == ROWS
    assert sorted(map(tuple, seen)) == sorted(map(tuple, features["train"].inputs["input_ids"].tolist()))
    # the order is a function of (seed, epoch) only; resuming at batch 5 continues with the same rows
    first = next(iter(tuner.train_dataset(features["train"], 1, skip_steps=5)))[0]["input_ids"].numpy()
    np.testing.assert_array_equal(first, batches[5][:, :first.shape[1]])


def _partial_batch_gradients(tuner, features):
    """(loss, gradients, batch size, width, real rows) of the epoch's partial batch (filled up with rows of
    weight 0 under static shapes) at the tuner's current weights."""
    batches = tuner.train_dataset(features["train"], 1)
    sizes = [int(np.sum(batch.rows != batching.FILL)) for batch in batches.plan]
    index = sizes.index(min(sizes))
    rows = batches.plan[index].rows
    inputs, labels, row_weights, _ = list(batches)[index]
    loss, dense = _gradients(tuner, inputs, labels, row_weights)
    return loss, dense, int(inputs["input_ids"].shape[0]), int(inputs["input_ids"].shape[1]), rows[:sizes[index]]


def _gradients(tuner, inputs, labels, row_weights):
    weights = tuner.task.loss_weights(labels, row_weights)
    examples = tf.range(tf.shape(row_weights)[0], dtype=tf.int64)  # dropout is off: any example numbers
    loss, gradients = tuner.engine._forward_backward(inputs, labels, weights, examples, tf.reduce_sum(weights))
    return float(loss), [tf.convert_to_tensor(gradient).numpy() for gradient in gradients]  # embeddings: slices


@pytest.mark.slow
def test_jit_compile_pads_without_retracing_and_matches_unpadded_training(tmp_path, init_checkpoint):
    """The padded partial batch (9 rows + 23 of weight 0, cut to its bucket's width) gives the loss and gradient
    of the unpadded batch, and of the same rows at full width; one epoch of 32 steps in two widths is traced
    once per width (a second epoch adds no trace) and ends at the dynamic-shape loop's weights."""
    task, hparams = _task(), _hparams(learning_rate=1e-4, bucket_width=4, **NO_DROPOUT)
    data_dir = _write_rows(tmp_path)
    static, features = _tuner(init_checkpoint, task, hparams, data_dir, jit_compile=True)
    dynamic, _ = _tuner(init_checkpoint, task, hparams, data_dir, jit_compile=False)
    assert not dynamic.static_shapes and dynamic.model.electra.skip_padding
    dynamic.set_weights(static.get_weights())
    padded_loss, padded_gradients, padded_rows, padded_width, rows = _partial_batch_gradients(static, features)
    loss, gradients, count, width, same_rows = _partial_batch_gradients(dynamic, features)
    assert (padded_rows, count, padded_width) == (32, ROWS % 32, width) and width < 16
    np.testing.assert_array_equal(rows, same_rows)
    train = features["train"]
    full_loss, full_gradients = _gradients(dynamic, {key: value[rows] for key, value in train.inputs.items()},
                                           {key: value[rows] for key, value in train.labels.items()},
                                           tf.ones([len(rows)], tf.float32))
    for other_loss, other_gradients in ((loss, gradients), (full_loss, full_gradients)):
        assert padded_loss == pytest.approx(other_loss, abs=1e-5)
        for ours, theirs in zip(padded_gradients, other_gradients):
            np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
    for tuner in (static, dynamic):
        _train_one_epoch(tuner, features)
        assert tuner.step == 32
    widths = {batch.width for batch in static.train_dataset(train, 1).plan}
    assert widths == {8, 12}
    assert static.traces["train"] == len(widths)
    assert static.engine._forward_backward.experimental_get_tracing_count() == len(widths)
    # XLA and plain kernels round differently and Adam turns a near-zero gradient's rounding into up to a whole
    # step (the learning rate) on that weight; seen: 1.3e-4 after 32 steps at 1e-3, so allow one step here
    for ours, theirs in zip(static.get_weights(), dynamic.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=hparams.learning_rate, rtol=0)
    _train_one_epoch(static, features, epoch=2)
    assert static.step == 64 and static.traces["train"] == len(widths)
    outputs = static.predict(features["dev"])["logits"]
    static.predict(features["dev"])
    assert static.traces["predict"] == len(widths) and outputs.shape[0] == ROWS
    direct = static.model(features["dev"].inputs, training=False)["logits"].numpy()
    np.testing.assert_allclose(outputs, direct, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_jit_compile_finetune_predicts_every_row_once_in_order(tmp_path, init_checkpoint):
    task, hparams = _task(), _hparams()
    os.makedirs(tmp_path / "data")
    data_dir = _write_rows(tmp_path / "data")
    output_dir = str(tmp_path / "out")
    results = finetune(task, hparams, init_checkpoint, data_dir, output_dir, jit_compile=True, progress=False)
    assert results["epochs"][0]["global_step"] == 32
    with open(results["predictions_file"], encoding="utf-8") as handle:
        rows = [line.split("\t") for line in handle.read().splitlines()[1:]]
    assert [guid for guid, _ in rows] == [f"test-{index}" for index in range(ROWS)]
    # metrics and predictions equal those of the exported best model on the unpadded test rows
    test = task.read(data_dir, "test")
    tokenizer = FastTokenizer.from_vocab_file(os.path.join(output_dir, "model", "vocab.txt"))
    features = task.featurize(test.examples, tokenizer, hparams)
    logits = load_pretrained(os.path.join(output_dir, "model"))(features.inputs, training=False)["logits"]
    metrics, predictions = task.evaluate(test.examples, features, {"logits": np.asarray(logits)})
    assert [label for _, label in rows] == [task.labels[int(index)] for index in predictions]
    assert metrics.keys() == results["test"].keys()
    for key, value in metrics.items():
        assert value == pytest.approx(results["test"][key], abs=1e-9)


def test_step_hparams_are_checked_and_tpu_defaults_to_bfloat16():
    assert default_precision("tpu") == "mixed_bfloat16" and default_precision("one_device") == "float32"
    assert _hparams(save_steps=7).save_steps == 7 and _hparams().save_steps is None
    assert _hparams(bucket_width=0).bucket_width == 0 and _hparams().bucket_width == 16
    for key, value in (("save_steps", 0), ("steps_per_execution", -1), ("steps_per_execution", 1.5),
                       ("bucket_width", -1), ("bucket_width", 1.5)):
        with pytest.raises(ValueError, match=key):
            _hparams(**{key: value})
