"""ExampleBuilder: the original ELECTRA packing rules, with scripted random draws."""

import collections
import random

import pytest

from electra_tf.data.packing import DOCUMENT_END, ExampleBuilder, PackedExample, PackingStats

CLS, SEP = 2, 3


class ScriptedRandom(random.Random):
    """Returns the given `random()` / `randint()` values in order and fails on any unexpected draw."""

    def __init__(self, draws, randints=()):
        super().__init__(0)
        self.draws, self.randints = list(draws), list(randints)

    def random(self):
        assert self.draws, "unexpected random() draw"
        return self.draws.pop(0)

    def randint(self, low, high):
        assert self.randints, "unexpected randint() draw"
        value = self.randints.pop(0)
        assert low <= value <= high and (low, high) == (5, self.expected_high)
        return value


def tokens(start, count):
    return list(range(start, start + count))


def builder(max_length, draws, randints=()):
    rng = ScriptedRandom(draws, randints)
    rng.expected_high = max_length
    return ExampleBuilder(max_length, CLS, SEP, seed=rng), rng


def unpad(example):
    length = sum(example.input_mask)
    assert example.input_mask == [1] * length + [0] * (len(example.input_mask) - length)
    assert example.input_ids[length:] == [0] * (len(example.input_ids) - length)
    return example.input_ids[:length], example.segment_ids[:length]


def test_fifty_percent_rule_puts_sentence_in_a_then_rest_in_b():
    packer, rng = builder(16, [0.5, 0.3, 0.9])  # not single; 50% draw → A; keep max length
    a, b, c = tokens(10, 3), tokens(20, 3), tokens(30, 4)
    assert packer.add_sentence(a) is None and packer.add_sentence(b) is None and packer.add_sentence(c) is None
    ids, segments = unpad(packer.end_document())
    assert ids == [CLS] + a + b + [SEP] + c + [SEP]
    assert segments == [0] * 8 + [1] * 5
    assert rng.draws == []


def test_fifty_percent_rule_other_way_and_later_short_sentence_still_fits_a():
    packer, rng = builder(16, [0.5, 0.7, 0.9])  # first target (16-3)//2 = 6
    a, b, c, d = tokens(10, 3), tokens(20, 3), tokens(30, 4), tokens(40, 2)
    for sentence in (a, b, c, d):
        assert packer.add_sentence(sentence) is None
    ids, segments = unpad(packer.end_document())
    # b fails the 50% draw → B; c does not fit A and B is non-empty → B (no draw); d fits A (3 + 2 < 6).
    assert ids == [CLS] + a + d + [SEP] + b + c + [SEP]
    assert segments == [0] * 7 + [1] * 8
    assert rng.draws == []


def test_single_segment_with_probability_point_one():
    packer, rng = builder(16, [0.05, 0.9])
    sentences = [tokens(10, 4), tokens(20, 4), tokens(30, 4)]
    for sentence in sentences:
        packer.add_sentence(sentence)
    ids, segments = unpad(packer.end_document())
    assert ids == [CLS] + sum(sentences, []) + [SEP] and set(segments) == {0}
    assert packer.stats.single_segment_examples == 1 and rng.draws == []


def test_target_reached_flushes_and_truncates_a_and_b():
    packer, _ = builder(12, [0.5, 0.9])  # first target (12-3)//2 = 4
    assert packer.add_sentence(tokens(10, 5)) is None
    ids, segments = unpad(packer.add_sentence(tokens(20, 9)))  # 14 ≥ 12: example now
    # A = 5 tokens (first sentence, no 50% draw since A ≥ target), B cut to 12 - 5 - 3 = 4.
    assert ids == [CLS] + tokens(10, 5) + [SEP] + tokens(20, 4) + [SEP]
    assert segments == [0] * 7 + [1] * 5
    assert packer.stats.truncated_tokens == 5 and packer.stats.long_sentences == 0


def test_sentence_longer_than_max_is_truncated_and_counted():
    packer, _ = builder(10, [0.5, 0.9])
    ids, _ = unpad(packer.add_sentence(tokens(100, 25)))
    assert ids == [CLS] + tokens(100, 8) + [SEP]
    assert packer.stats.long_sentences == 1 and packer.stats.truncated_tokens == 17
    assert packer.end_document() is None  # nothing pending after the flush


def test_random_target_length_applies_to_next_example():
    packer, rng = builder(20, [0.5, 0.01, 0.5, 0.2], randints=[7])
    assert packer.add_sentence(tokens(10, 20)) is not None  # then target = randint(5, 20) = 7
    assert packer.add_sentence(tokens(40, 4)) is None
    ids, segments = unpad(packer.add_sentence(tokens(50, 3)))  # 7 ≥ 7 flushes early
    # first target (7 - 3) // 2 = 2: A already over it, so no 50% draw and the second sentence goes to B.
    assert ids == [CLS] + tokens(40, 4) + [SEP] + tokens(50, 3) + [SEP]
    assert segments == [0] * 6 + [1] * 4
    assert rng.draws == [] and rng.randints == []


def test_document_boundary_flushes_short_example_and_counts_documents():
    packer = ExampleBuilder(32, CLS, SEP, seed=1)
    assert packer.end_document() is None  # blank line with nothing pending
    packer.add_sentence(tokens(10, 3))
    ids, _ = unpad(packer.end_document())
    assert ids[0] == CLS and ids[-1] == SEP and len(ids) == 5
    packer.add_sentence([])  # no tokens: ignored
    assert packer.end_document() is None
    assert packer.stats.documents == 1 and packer.stats.sentences == 1 and packer.stats.examples == 1


def _pack(seed, sentences_per_document):
    rng = random.Random(123)
    packer = ExampleBuilder(24, CLS, SEP, seed=seed)
    examples, source = [], collections.Counter()
    for _ in range(40):
        for _ in range(sentences_per_document):
            sentence = [rng.randrange(5, 50) for _ in range(rng.randrange(1, 15))]
            source.update(sentence)
            examples.append(packer.add_sentence(sentence))
        examples.append(packer.end_document())
    return [example for example in examples if example is not None], source, packer.stats


def test_random_stream_invariants_and_seed_determinism():
    examples, source, stats = _pack(7, 8)
    written = collections.Counter()
    for example in examples:
        ids, segments = unpad(example)
        assert len(example.input_ids) == 24 and ids[0] == CLS and ids[-1] == SEP
        first_sep = ids.index(SEP)
        assert segments[: first_sep + 1] == [0] * (first_sep + 1)
        assert segments[first_sep + 1:] == [1] * (len(ids) - first_sep - 1)
        assert ids.count(SEP) == (2 if first_sep < len(ids) - 1 else 1)
        written.update(token for token in ids if token not in (CLS, SEP))
    assert not written - source  # every written token came from the input
    assert sum(written.values()) + stats.truncated_tokens == stats.text_tokens == sum(source.values())
    assert stats.examples == len(examples) and stats.documents == 40
    assert stats.tokens == sum(sum(example.input_mask) for example in examples)
    assert stats.single_segment_examples > 0 and stats.single_segment_examples < stats.examples
    assert _pack(7, 8)[0] == examples
    assert _pack(8, 8)[0] != examples


def test_block_packing_equals_sentence_by_sentence():
    rng = random.Random(5)
    stream = []
    for _ in range(60):
        stream += [[rng.randrange(5, 50) for _ in range(rng.choice([0, 1, 3, 9, 40]))]
                   for _ in range(rng.randrange(0, 9))]
        stream.append(None)
    one_by_one = ExampleBuilder(24, CLS, SEP, seed=11)
    expected = [one_by_one.end_document() if sentence is None else one_by_one.add_sentence(sentence)
                for sentence in stream]
    expected = [example for example in expected if example is not None]

    blocks = ExampleBuilder(24, CLS, SEP, seed=11)
    packed, start = [], 0
    while start < len(stream):
        size = rng.randrange(1, 40)
        block, start = stream[start:start + size], start + size
        ids = [token for sentence in block if sentence is not None for token in sentence]
        lengths = [DOCUMENT_END if sentence is None else len(sentence) for sentence in block]
        arrays = blocks.pack(ids, lengths)
        assert all(values.shape == (len(arrays.input_ids), 24) for values in arrays)
        packed += [PackedExample(*(values[row].tolist() for values in arrays)) for row in range(len(arrays[0]))]
    assert packed == expected and len(expected) > 50
    assert blocks.stats == one_by_one.stats
    with pytest.raises(ValueError, match="lengths add up to 3 tokens, but 2"):
        blocks.pack([7, 8], [3])
    with pytest.raises(ValueError, match="DOCUMENT_END"):
        blocks.pack([], [-2])


def test_stats_add_and_padding_fraction():
    total = PackingStats(tokens=30, padding_tokens=10)
    total += PackingStats(tokens=10, padding_tokens=30, examples=2)
    assert total.as_dict()["padding_fraction"] == pytest.approx(0.5) and total.examples == 2


def test_too_short_max_length_is_rejected():
    with pytest.raises(ValueError, match="max_seq_length=4"):
        ExampleBuilder(4, CLS, SEP)
