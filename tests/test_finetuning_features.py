"""Featurizers: classification inputs equal the tokenizer's transformers-identical encoding, NER labels sit
on first sub-tokens, KorQuAD windows slide by doc_stride and answers map to and from exact characters."""

import numpy as np
import pytest
from support import fixture_dir

from electra_tf.finetuning import squad
from electra_tf.finetuning.tasks import IGNORE_INDEX, get_task
from electra_tf.finetuning.config import FinetuneHparams
from electra_tf.tokenization import FastTokenizer


@pytest.fixture(scope="module")
def tokenizer(finetune_vocab):
    return FastTokenizer.from_vocab_file(finetune_vocab)


@pytest.mark.parametrize("task_name,max_length", [("kornli", 12), ("kornli", 64), ("nsmc", 8), ("korsts", 11)])
def test_sequence_features_match_encode_for_model(tokenizer, task_name, max_length, finetune_vocab):
    task = get_task(task_name)
    examples = task.read(fixture_dir(task_name), "train").examples
    features = task.featurize(examples, tokenizer, FinetuneHparams(max_seq_length=max_length))
    fast = FastTokenizer.from_vocab_file(finetune_vocab)
    expected = fast.encode_batch_for_model([e.text_a for e in examples],
                                           [e.text_b for e in examples] if examples[0].text_b else None,
                                           max_length=max_length)
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(features.inputs[key], expected[key])
    lengths = [len(fast.encode(e.text_a)) + (len(fast.encode(e.text_b)) + 1 if e.text_b else 0) + 2
               for e in examples]
    assert features.truncated == sum(length > max_length for length in lengths)
    if max_length < 16:
        assert features.truncated > 0
    assert list(features.labels["labels"]) == [e.label for e in examples] or task.regression


def test_ner_labels_on_first_subtoken(tokenizer, finetune_vocab):
    task = get_task("naver-ner")
    examples = task.read(fixture_dir("naver-ner"), "test").examples
    features = task.featurize(examples, tokenizer, FinetuneHparams(max_seq_length=64))
    fast = FastTokenizer.from_vocab_file(finetune_vocab)
    multi_piece_words = 0
    for row, example in enumerate(examples):
        expected_ids = [fast.cls_id]
        expected_labels = [IGNORE_INDEX]
        for word, label in zip(example.words, example.labels):
            pieces = fast.encode(word)
            multi_piece_words += len(pieces) > 1
            expected_ids += pieces
            expected_labels += [label] + [IGNORE_INDEX] * (len(pieces) - 1)
        expected_ids.append(fast.sep_id)
        expected_labels.append(IGNORE_INDEX)
        n = len(expected_ids)
        assert features.inputs["input_ids"][row, :n].tolist() == expected_ids
        assert features.labels["labels"][row, :n].tolist() == expected_labels
        assert (features.labels["labels"][row, n:] == IGNORE_INDEX).all()
        assert features.inputs["attention_mask"][row].sum() == n
        assert len(features.meta[row]) == len(example.words)
    assert multi_piece_words > 0  # the check above really exercised sub-token alignment


def test_ner_truncation_is_counted_and_scored_on_kept_words(tokenizer):
    task = get_task("naver-ner")
    examples = task.read(fixture_dir("naver-ner"), "test").examples
    features = task.featurize(examples, tokenizer, FinetuneHparams(max_seq_length=6))
    assert features.truncated > 0
    assert all(len(positions) < len(e.words) for positions, e in zip(features.meta, examples)
               if len(positions) < len(e.words)) and features.truncated == sum(
        len(p) < len(e.words) for p, e in zip(features.meta, examples))
    # perfect logits on the kept words -> F1 = 1
    logits = np.zeros(features.labels["labels"].shape + (len(task.labels),), np.float32)
    for row, positions in enumerate(features.meta):
        for index, position in enumerate(positions):
            logits[row, position, examples[row].labels[index]] = 5.0
    scores, predictions = task.evaluate(examples, features, {"logits": logits})
    assert scores["f1"] == pytest.approx(1.0)
    assert [len(p) for p in predictions] == [len(p) for p in features.meta]


def covered_answer(example, offsets):
    """The answer widened to whole sub-tokens: what a sub-token span can express (ours and the original's)."""
    text, start = example.answers[0]
    overlapping = [(s, e) for s, e in offsets if s < start + len(text) and e > start]
    covered = example.context[overlapping[0][0]:overlapping[-1][1]]
    assert text in covered
    return covered


@pytest.fixture(scope="module")
def korquad_train():
    return get_task("korquad").read(fixture_dir("korquad"), "train").examples


def test_korquad_windows_and_answer_positions(tokenizer, korquad_train):
    features = squad.featurize(korquad_train, tokenizer, max_seq_length=40, doc_stride=12, max_query_length=8,
                               training=True)
    ids = features.inputs["input_ids"]
    counts = np.bincount(features.example_index)
    assert (counts > 1).all()  # every context needs several windows at this length
    found = 0
    for feature, index in enumerate(features.example_index):
        example = korquad_train[index]
        offset, start = features.doc_offset[feature], features.window_start[feature]
        length = features.window_length[feature]
        assert ids[feature, 0] == tokenizer.cls_id and ids[feature, offset - 1] == tokenizer.sep_id
        assert ids[feature, offset + length] == tokenizer.sep_id
        assert features.inputs["token_type_ids"][feature, offset:offset + length + 1].all()
        assert not features.inputs["token_type_ids"][feature, :offset].any()
        if feature and features.example_index[feature - 1] == index:
            assert start - features.window_start[feature - 1] == 12  # doc_stride
        s, e = features.labels["start_positions"][feature], features.labels["end_positions"][feature]
        if s:
            found += 1
            offsets = features.context_offsets[index]
            text = example.context[offsets[start + s - offset][0]:offsets[start + e - offset][1]]
            assert text == covered_answer(example, offsets)
        else:
            assert e == 0
            answer_start = example.answers[0][1]
            window_chars = (features.context_offsets[index][start][0],
                            features.context_offsets[index][start + length - 1][1])
            assert not (window_chars[0] <= answer_start and
                        answer_start + len(example.answers[0][0]) <= window_chars[1])
    assert found >= len(korquad_train)  # every answer lies inside at least one window
    # every context token is the max-context token of exactly one window
    for index in range(len(korquad_train)):
        covered = np.zeros(len(features.context_offsets[index]), int)
        for feature in np.flatnonzero(features.example_index == index):
            start, length = features.window_start[feature], features.window_length[feature]
            covered[start:start + length] += features.max_context[feature]
        assert (covered == 1).all()


def test_korquad_query_truncation_counted(tokenizer, korquad_train):
    features = squad.featurize(korquad_train, tokenizer, max_seq_length=64, doc_stride=16, max_query_length=3,
                               training=False)
    assert features.truncated == len(korquad_train)


def test_korquad_decoding_on_constructed_logits(tokenizer, korquad_train):
    examples = korquad_train[:2]
    features = squad.featurize(examples, tokenizer, max_seq_length=48, doc_stride=16, max_query_length=16,
                               training=True)
    start_logits = np.zeros(features.inputs["input_ids"].shape, np.float32)
    end_logits = np.zeros_like(start_logits)
    for feature, (s, e) in enumerate(zip(features.labels["start_positions"], features.labels["end_positions"])):
        if s and features.max_context[feature][s - features.doc_offset[feature]]:
            start_logits[feature, s] = 10.0
            end_logits[feature, e] = 10.0
        # a tempting span in the question part must be ignored
        start_logits[feature, 1] = 50.0
        end_logits[feature, 2] = 50.0
    predictions = squad.decode_answers(examples, features, start_logits, end_logits, n_best_size=20,
                                       max_answer_length=30)
    assert predictions == {e.qid: covered_answer(e, features.context_offsets[i]) for i, e in enumerate(examples)}
    # a 5-token span with top logits wins at max_answer_length 30 and is forbidden at 4
    first = 0
    offset, window = features.doc_offset[first], features.window_start[first]
    start_logits[first, offset] = end_logits[first, offset + 4] = 100.0
    offsets = features.context_offsets[0]
    five_tokens = examples[0].context[offsets[window][0]:offsets[window + 4][1]]
    assert squad.decode_answers(examples, features, start_logits, end_logits)[examples[0].qid] == five_tokens
    limited = squad.decode_answers(examples, features, start_logits, end_logits, max_answer_length=4)
    assert limited[examples[0].qid] != five_tokens


def test_korquad_task_takes_every_setting_from_hparams(tokenizer, korquad_train):
    """doc_stride / max_query_length shape the windows, n_best_size / max_answer_length the decoding: one route."""
    task = get_task("korquad")
    hparams = FinetuneHparams(max_seq_length=48, doc_stride=16, max_query_length=16, n_best_size=3,
                              max_answer_length=4)
    features = task.featurize(korquad_train[:2], tokenizer, hparams)
    windows = squad.featurize(korquad_train[:2], tokenizer, 48, 16, 16)
    np.testing.assert_array_equal(features.inputs["input_ids"], windows.inputs["input_ids"])
    rng = np.random.default_rng(0)
    outputs = {"start_logits": rng.normal(size=windows.inputs["input_ids"].shape).astype(np.float32),
               "end_logits": rng.normal(size=windows.inputs["input_ids"].shape).astype(np.float32)}
    _, predictions = task.evaluate(korquad_train[:2], features, outputs)
    expected = squad.decode_answers(korquad_train[:2], windows, outputs["start_logits"], outputs["end_logits"],
                                    n_best_size=3, max_answer_length=4)
    assert predictions == expected
    assert predictions != squad.decode_answers(korquad_train[:2], windows, outputs["start_logits"],
                                               outputs["end_logits"], n_best_size=20, max_answer_length=30)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['n_best_size'\]"):
        get_task("korquad", n_best_size=3)
