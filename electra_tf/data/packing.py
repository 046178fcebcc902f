"""Packing of tokenized sentences into fixed-length ``[CLS] A [SEP] B [SEP]`` pre-training examples.

`ExampleBuilder` follows the rules of google-research/electra ``build_pretraining_dataset.py``
``ExampleBuilder``: sentences of a document accumulate until their token count reaches the target length
(or the document ends); the first segment aims at ``(target - 3) // 2`` tokens, or is the only segment with
probability 0.1; a sentence joins segment A when A is empty, when it fits, or with probability 0.5 while B
is empty and A is still short; A is cut to ``max - 2`` and B to ``max - len(A) - 3`` tokens (the overflow is
discarded, not carried over); the next target is ``randint(5, max)`` with probability 0.05, else ``max``.
With the same token stream and a `random.Random` in the state of the original's global `random`, the random
draws happen in the same order and the examples are identical.

Deliberate deviations: the random generator is this builder's own (`random.Random(seed)`), not the
process-global `random` module, so a build is reproducible; sentences with no tokens are skipped (in the
original they are appended as empty lists, which changes nothing); counters for `PackingStats` are kept.
"""

import collections
import dataclasses
import random

PackedExample = collections.namedtuple("PackedExample", ["input_ids", "input_mask", "segment_ids"])

SINGLE_SEGMENT_PROBABILITY = 0.1
RANDOM_LENGTH_PROBABILITY = 0.05
MIN_RANDOM_LENGTH = 5
_SINGLE_SEGMENT_TARGET = 100000


@dataclasses.dataclass
class PackingStats:
    """Counters of one or more builders (add them with ``+=``)."""

    documents: int = 0  # documents that had at least one token
    sentences: int = 0  # sentences with at least one token
    examples: int = 0
    text_tokens: int = 0  # WordPiece tokens of the sentences, before truncation
    truncated_tokens: int = 0  # tokens discarded by the truncation of A and B
    long_sentences: int = 0  # sentences longer than max_seq_length - 2 (always truncated)
    tokens: int = 0  # non-padding tokens written, [CLS]/[SEP] included
    padding_tokens: int = 0
    single_segment_examples: int = 0

    def __iadd__(self, other):
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))
        return self

    def as_dict(self):
        values = dataclasses.asdict(self)
        total = self.tokens + self.padding_tokens
        values["padding_fraction"] = self.padding_tokens / total if total else 0.0
        return values


class ExampleBuilder:
    """Turns a stream of tokenized sentences and document ends into `PackedExample`s.

    Args:
      max_seq_length: length of every example (at least 5, as the original's ``randint(5, max)`` needs).
      cls_id, sep_id, pad_id: special token ids (look them up in the vocabulary).
      seed: seed of the builder's own `random.Random`, or a `random.Random` to draw from.
    """

    def __init__(self, max_seq_length, cls_id, sep_id, pad_id=0, seed=0):
        if max_seq_length < MIN_RANDOM_LENGTH:
            raise ValueError(f"max_seq_length={max_seq_length} must be at least {MIN_RANDOM_LENGTH}")
        self.max_seq_length = int(max_seq_length)
        self.cls_id, self.sep_id, self.pad_id = int(cls_id), int(sep_id), int(pad_id)
        self.rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        self.stats = PackingStats()
        self._sentences = []
        self._length = 0
        self._target_length = self.max_seq_length
        self._document_has_tokens = False

    def add_sentence(self, token_ids):
        """Adds one sentence (a list of ids); returns a `PackedExample` when the target length is reached."""
        if not token_ids:
            return None
        self.stats.sentences += 1
        self.stats.text_tokens += len(token_ids)
        if len(token_ids) > self.max_seq_length - 2:
            self.stats.long_sentences += 1
        self._document_has_tokens = True
        self._sentences.append(token_ids)
        self._length += len(token_ids)
        if self._length >= self._target_length:
            return self._create_example()
        return None

    def end_document(self):
        """Marks a document boundary; returns the flushed `PackedExample`, or None if nothing was pending."""
        if self._document_has_tokens:
            self.stats.documents += 1
            self._document_has_tokens = False
        if self._length == 0:
            return None
        return self._create_example()

    def _create_example(self):
        rng = self.rng
        if rng.random() < SINGLE_SEGMENT_PROBABILITY:
            first_target = _SINGLE_SEGMENT_TARGET
        else:
            first_target = (self._target_length - 3) // 2  # [CLS] and two [SEP] not yet added
        first, second = [], []
        for sentence in self._sentences:
            if (not first or len(first) + len(sentence) < first_target
                    or (not second and len(first) < first_target and rng.random() < 0.5)):
                first += sentence
            else:
                second += sentence
        if not second:
            self.stats.single_segment_examples += 1
        kept_first = first[: self.max_seq_length - 2]
        kept_second = second[: max(0, self.max_seq_length - len(kept_first) - 3)]
        self.stats.truncated_tokens += len(first) - len(kept_first) + len(second) - len(kept_second)

        self._sentences = []
        self._length = 0
        if rng.random() < RANDOM_LENGTH_PROBABILITY:
            self._target_length = rng.randint(MIN_RANDOM_LENGTH, self.max_seq_length)
        else:
            self._target_length = self.max_seq_length
        return self._make_example(kept_first, kept_second)

    def _make_example(self, first, second):
        input_ids = [self.cls_id] + first + [self.sep_id]
        segment_ids = [0] * len(input_ids)
        if second:
            input_ids += second + [self.sep_id]
            segment_ids += [1] * (len(second) + 1)
        length = len(input_ids)
        padding = self.max_seq_length - length
        self.stats.examples += 1
        self.stats.tokens += length
        self.stats.padding_tokens += padding
        return PackedExample(input_ids + [self.pad_id] * padding,
                             [1] * length + [0] * padding,
                             segment_ids + [0] * padding)
