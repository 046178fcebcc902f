"""Length-bucketed batches: the plans (every row once, in a batch wide enough for it, a resumable order) and
the FineTuner's bucketed predict, which gives every task head the outputs and metrics of full-width batches."""

import dataclasses
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from support import fixture_dir

from electra_tf.finetuning import batching
from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.tasks import get_task
from electra_tf.finetuning.tasks.tagging import IGNORE_INDEX
from electra_tf.finetuning.loop import PAD_LOGIT, epoch_order
from electra_tf.finetuning.run import build_tuner
from electra_tf.tokenization import FastTokenizer

WIDTHS = batching.bucket_widths(64, 16)


def _random_lengths(count=300, seed=0):
    return np.random.default_rng(seed).integers(2, 65, count)


# Plans (pure numpy) --------------------------------------------------------------------------------------------

def test_bucket_widths_and_row_lengths():
    assert WIDTHS == (16, 32, 48, 64)
    assert batching.bucket_widths(100, 16)[-2:] == (96, 100)
    assert batching.bucket_widths(64, 0) == batching.bucket_widths(64, 64) == batching.bucket_widths(64, 80) == (64,)
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]])
    assert batching.row_lengths(mask).tolist() == [3, 3, 0, 5]  # one past the last attended position
    assert batching.row_widths(np.array([1, 16, 17, 64]), WIDTHS).tolist() == [16, 16, 32, 64]


@pytest.mark.parametrize("fill", [False, True])
def test_train_plan_covers_every_row_once_in_wide_enough_batches(fill):
    lengths, batch_size = _random_lengths(), 8
    order = np.random.default_rng(1).permutation(len(lengths))
    plan = batching.train_plan(order, lengths, WIDTHS, batch_size, 3, seed=42, epoch=1, fill=fill)
    assert len(plan) == math.ceil(len(lengths) / batch_size)  # as many steps as without buckets
    rows = np.concatenate([batch.rows for batch in plan])
    assert sorted(rows[rows != batching.FILL].tolist()) == list(range(len(lengths)))
    assert (rows == batching.FILL).sum() == (-len(lengths) % batch_size if fill else 0)
    sizes = sorted(len(batch.rows) for batch in plan)
    assert sizes == [batch_size] * len(plan) if fill else sizes == [len(lengths) % batch_size] + [8] * 37
    for batch in plan:
        longest = lengths[batch.rows[batch.rows != batching.FILL]].max()
        assert batch.width in WIDTHS and batch.width >= longest
        assert batch.width == WIDTHS[0] or WIDTHS[WIDTHS.index(batch.width) - 1] < longest  # the narrowest
    # a function of (seed, epoch)
    again = batching.train_plan(order, lengths, WIDTHS, batch_size, 3, seed=42, epoch=1, fill=fill)
    assert all(np.array_equal(a.rows, b.rows) and a.width == b.width for a, b in zip(plan, again))
    other = batching.train_plan(order, lengths, WIDTHS, batch_size, 3, seed=42, epoch=2, fill=fill)
    assert [batch.width for batch in other] != [batch.width for batch in plan]


def test_train_plan_shuffles_whole_blocks_of_one_width():
    """The width-sorted batches stay together in blocks of `per_execution` (counted from each width's first
    batch), and the blocks are shuffled."""
    lengths, batch_size, per_execution = _random_lengths(600, seed=3), 4, 5
    order = np.arange(600)
    plan = batching.train_plan(order, lengths, WIDTHS, batch_size, per_execution, seed=7, epoch=1)
    by_width = order[np.argsort(batching.row_widths(lengths, WIDTHS), kind="stable")]
    unshuffled = [by_width[start:start + batch_size] for start in range(0, 600, batch_size)]
    index = {int(rows[0]): number for number, rows in enumerate(unshuffled)}
    sequence = [index[int(batch.rows[0])] for batch in plan]
    assert sorted(sequence) == list(range(len(unshuffled))) and sequence != sorted(sequence)
    for batch, number in zip(plan, sequence):
        np.testing.assert_array_equal(batch.rows, unshuffled[number])
    first_of_width = {}
    for number, batch in sorted(zip(sequence, plan), key=lambda pair: pair[0]):
        first_of_width.setdefault(batch.width, number)
    blocks = moved = 0
    for position, (number, batch) in enumerate(zip(sequence, plan)):
        starts_block = (number - first_of_width[batch.width]) % per_execution == 0
        follows = position and sequence[position - 1] == number - 1
        assert starts_block or follows, (position, number)  # inside a block: right after its predecessor
        blocks += starts_block
        moved += starts_block and not follows
    assert moved > 0.75 * blocks  # the blocks are shuffled apart (no bigger blocks than `per_execution`)
    assert len(batching.runs(plan)) > len(WIDTHS)


def test_train_plan_without_buckets_is_the_epoch_order():
    lengths = _random_lengths(101)
    order = np.random.default_rng(2).permutation(101)
    plan = batching.train_plan(order, lengths, (64,), 8, 3, seed=42, epoch=1)
    assert [len(batch.rows) for batch in plan] == [8] * 12 + [5]
    np.testing.assert_array_equal(np.concatenate([batch.rows for batch in plan]), order)
    assert {batch.width for batch in plan} == {64}


@pytest.mark.parametrize("fill", [False, True])
def test_eval_plan_covers_every_row_once_shortest_first(fill):
    lengths, batch_size = _random_lengths(203), 16
    plan = batching.eval_plan(lengths, WIDTHS, batch_size, fill=fill)
    rows = np.concatenate([batch.rows for batch in plan])
    assert sorted(rows[rows != batching.FILL].tolist()) == list(range(203))
    assert [len(batch.rows) for batch in plan] == [16] * 12 + [16 if fill else 11]
    widths = [batch.width for batch in plan]
    assert widths == sorted(widths) and len(set(widths)) == len(WIDTHS)
    for batch in plan:
        real = batch.rows[batch.rows != batching.FILL]
        assert batch.width >= lengths[real].max()


# The FineTuner ---------------------------------------------------------------------------------------------------

# (task, fixture, split, settings): each head type, with lengths that fall into several buckets
HEADS = {
    "classification": ("nsmc", "train", {"max_seq_length": 24, "bucket_width": 4, "eval_batch_size": 8}),
    "regression": ("korsts", "train", {"max_seq_length": 32, "bucket_width": 4, "eval_batch_size": 4}),
    "token_classification": ("naver-ner", "train", {"max_seq_length": 32, "bucket_width": 4,
                                                    "eval_batch_size": 4}),
    # few n-best candidates, windows far shorter than max_seq_length: padding must not take candidates' places
    "question_answering": ("korquad", "dev", {"max_seq_length": 128, "bucket_width": 4, "eval_batch_size": 2,
                                              "doc_stride": 32, "max_query_length": 16, "n_best_size": 2}),
}


def _tuner(init_checkpoint, task_name, split, settings, jit_compile=False):
    """A FineTuner for the fixture task, its examples and features of `split`."""
    task = get_task(task_name)
    hparams = load_hparams(None, None, {"train_batch_size": 4, "steps_per_execution": 2, **settings})
    data_dir = fixture_dir(task_name)
    task.prepare(data_dir)
    examples = task.read(data_dir, split).examples
    if task_name == "korsts":  # the fixture repeats pairs: rank correlations would hinge on rounding between twins
        examples = list({(example.text_a, example.text_b): example for example in examples}.values())
    tokenizer = FastTokenizer.from_vocab_file(os.path.join(init_checkpoint, "vocab.txt"))
    features = task.featurize(examples, tokenizer, hparams, training=split == "train")
    tf.keras.utils.set_random_seed(hparams.seed)
    tuner = build_tuner(task, hparams, init_checkpoint, len(features), tf.distribute.get_strategy(), jit_compile)
    return tuner, examples, features


@pytest.mark.parametrize("head", sorted(HEADS))
def test_bucketed_predict_gives_the_full_width_outputs_and_metrics(head, init_checkpoint):
    task_name, split, settings = HEADS[head]
    tuner, examples, features = _tuner(init_checkpoint, task_name, split, settings)
    lengths = batching.row_lengths(features.inputs["attention_mask"])
    plan = batching.eval_plan(lengths, tuner._widths(features), settings["eval_batch_size"])
    assert len({batch.width for batch in plan}) >= 2  # the fixture really spans buckets
    bucketed = tuner.predict(features)
    tuner.hparams = dataclasses.replace(tuner.hparams, bucket_width=0)
    full = tuner.predict(features)
    assert bucketed.keys() == full.keys()
    for key, value in full.items():
        assert bucketed[key].shape == value.shape
        if key in tuner.task.sequence_outputs:  # real positions equal, the padding beyond the width: PAD_LOGIT
            for row, length in enumerate(lengths):
                np.testing.assert_allclose(bucketed[key][row, :length], value[row, :length], atol=1e-5, rtol=0)
                width = batching.row_widths(length, tuner._widths(features))
                assert (bucketed[key][row, width:] == PAD_LOGIT).all()
        else:
            np.testing.assert_allclose(bucketed[key], value, atol=1e-5, rtol=0)
    metrics, predictions = tuner.task.evaluate(examples, features, bucketed)
    full_metrics, full_predictions = tuner.task.evaluate(examples, features, full)
    assert metrics and metrics.keys() == full_metrics.keys()
    for key, value in full_metrics.items():
        assert metrics[key] == pytest.approx(value, abs=1e-4), key  # a random model: near-equal outputs
    if head == "regression":
        np.testing.assert_allclose(predictions, full_predictions, atol=1e-5, rtol=0)
    elif head == "classification":
        np.testing.assert_array_equal(predictions, full_predictions)
    else:  # tag lists, answers by question id
        assert predictions == full_predictions


def test_training_batches_serve_the_plan_cut_to_width_and_resume_exactly(init_checkpoint):
    tuner, _, features = _tuner(init_checkpoint, "naver-ner", "train", HEADS["token_classification"][2])
    widths = tuner._widths(features)
    batches = tuner.train_dataset(features, 1)
    plan = list(batches.plan)
    assert len(plan) == math.ceil(len(features) / 4) and len({batch.width for batch in plan}) >= 2
    served = list(batches)
    assert len(served) == len(plan) and not len(batches)
    rows = np.concatenate([batch.rows for batch in plan])
    assert sorted(rows.tolist()) == list(range(len(features)))  # every row once
    assert sorted(rows.tolist()) != rows.tolist() or len(features) < 8  # in the epoch's shuffled order
    full_labels = features.labels["labels"]
    for step, (batch, (inputs, labels, weights, examples)) in enumerate(zip(plan, served)):
        assert batch.width in widths
        # the rows' example numbers (their dropout key): row r of the epoch's step s is example s * batch + r
        np.testing.assert_array_equal(examples.numpy(), step * 4 + np.arange(len(batch.rows)))
        for key, value in features.inputs.items():
            np.testing.assert_array_equal(inputs[key].numpy(), value[batch.rows, :batch.width])
            assert not features.inputs["attention_mask"][batch.rows, batch.width:].any()  # nothing real cut
        np.testing.assert_array_equal(labels["labels"].numpy(), full_labels[batch.rows, :batch.width])
        assert (full_labels[batch.rows, batch.width:] == IGNORE_INDEX).all()
        np.testing.assert_array_equal(weights.numpy(), np.ones(len(batch.rows)))
    # the same rows as the epoch's permutation, regrouped by width
    assert sorted(rows.tolist()) == sorted(epoch_order(len(features), tuner.hparams.seed, 1).tolist())
    # resuming at step k serves the uninterrupted epoch's batches k, k+1, ...
    for skip in (1, 5):
        resumed = tuner.train_dataset(features, 1, skip_steps=skip)
        assert [b.width for b in resumed.plan] == [b.width for b in plan[skip:]]
        for (inputs, labels, _, examples), (expected, expected_labels, _, expected_examples) in zip(
                resumed, served[skip:]):
            np.testing.assert_array_equal(inputs["input_ids"].numpy(), expected["input_ids"].numpy())
            np.testing.assert_array_equal(examples.numpy(), expected_examples.numpy())  # the same dropout keys
            np.testing.assert_array_equal(labels["labels"].numpy(), expected_labels["labels"].numpy())
    # train(batches, count) runs exactly `count` planned steps, across widths
    batches = tuner.train_dataset(features, 1)
    assert np.isfinite(tuner.train(batches, 3)) and tuner.step == 3 and len(batches) == len(plan) - 3


def test_dynamic_shapes_trace_each_loop_at_most_twice_over_all_widths(init_checkpoint):
    """Without static shapes the loops generalize to any width after the second one (no trace per width)."""
    tuner, _, features = _tuner(init_checkpoint, "naver-ner", "train", HEADS["token_classification"][2])
    assert not tuner.static_shapes
    batches = tuner.train_dataset(features, 1)
    widths = [width for width, _ in batching.runs(batches.plan)]
    assert len(set(widths)) >= 3, widths
    tuner.train(batches, len(batches))
    tuner.predict(features)
    assert tuner.traces["train"] <= 2 and tuner.traces["predict"] <= 2, tuner.traces
