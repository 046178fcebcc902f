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

The rules run over sentence lengths only; the tokens are gathered with NumPy for a whole block of
sentences at once (`ExampleBuilder.pack`), which is what makes corpus building fast.
"""

import bisect
import collections
import dataclasses
import itertools
import random

import numpy as np

from electra_tf.data.schema import FEATURE_NAMES

PackedExample = collections.namedtuple("PackedExample", FEATURE_NAMES)
PackedExample.__doc__ = "One example as lists of `max_seq_length` ints (or, from `pack`, int arrays [N, L])."

DOCUMENT_END = -1  # in the lengths given to `ExampleBuilder.pack`: a document boundary, not a sentence

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
    """Turns a stream of tokenized sentences and document ends into packed examples.

    Feed it block by block with `pack` (flat token ids and per-sentence lengths), or one sentence at a time
    with `add_sentence` / `end_document`; both give the same examples for the same stream.

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
        self._pending_ids = np.zeros([0], np.int32)  # tokens of the sentences waiting for the next example
        self._pending_lengths = []
        self._target_length = self.max_seq_length
        self._document_has_tokens = False

    def pack(self, token_ids, lengths):
        """Packs a block of the stream; returns the examples completed in it as a `PackedExample` of
        int32 arrays ``[N, max_seq_length]``.

        Args:
          token_ids: the block's sentences' ids, concatenated (1-D ints).
          lengths: per item of the stream, the number of ids of a sentence (0: an empty sentence, skipped)
            or `DOCUMENT_END`.
        """
        lengths = np.asarray(lengths, np.int64).reshape(-1)
        if (lengths < DOCUMENT_END).any():
            raise ValueError(f"lengths must be >= 0 or DOCUMENT_END ({DOCUMENT_END}), got {lengths.min()}")
        new_lengths = lengths[lengths > 0]
        sentence_lengths = self._pending_lengths + new_lengths.tolist()
        token_ids = np.concatenate([self._pending_ids, np.asarray(token_ids, np.int32).reshape(-1)])
        if sum(sentence_lengths) != len(token_ids):
            raise ValueError(f"lengths add up to {sum(sentence_lengths) - len(self._pending_ids)} tokens, "
                             f"but {len(token_ids) - len(self._pending_ids)} token ids were given")
        self.stats.sentences += len(new_lengths)
        self.stats.text_tokens += int(new_lengths.sum())
        self.stats.long_sentences += int((new_lengths > self.max_seq_length - 2).sum())

        # From example to example: one ends at the first sentence where the pending tokens reach the target
        # (a bisection of the running token count), or at a document end.
        total = len(sentence_lengths)
        document_ends = (np.cumsum(lengths > 0)[lengths == DOCUMENT_END] + len(self._pending_lengths)).tolist()
        cumulative = list(itertools.accumulate(sentence_lengths, initial=0))
        examples, first, document_start = [], 0, 0
        for end in document_ends:
            first = self._flush_reached(first, end, cumulative, sentence_lengths, examples)
            if end > first:  # the ending document's last sentences
                examples.append(self._segments(range(first, end), sentence_lengths))
                first = end
            if self._document_has_tokens or end > document_start:
                self.stats.documents += 1
            self._document_has_tokens = False
            document_start = end
        first = self._flush_reached(first, total, cumulative, sentence_lengths, examples)
        self._document_has_tokens = self._document_has_tokens or total > document_start
        offsets = np.asarray(cumulative)
        self._pending_ids = token_ids[offsets[first]:]
        self._pending_lengths = sentence_lengths[first:]
        return self._assemble(examples, token_ids, offsets, sentence_lengths)

    def _flush_reached(self, first, end, cumulative, sentence_lengths, examples):
        """Appends the examples whose target length is reached by sentence `end`; returns the first pending."""
        while True:
            reached = bisect.bisect_left(cumulative, cumulative[first] + self._target_length, first + 1, end + 1)
            if reached > end:
                return first
            examples.append(self._segments(range(first, reached), sentence_lengths))
            first = reached

    def add_sentence(self, token_ids):
        """Adds one sentence (a list of ids); returns a `PackedExample` of lists when the target is reached."""
        return self._single(self.pack(token_ids, [len(token_ids)]))

    def end_document(self):
        """Marks a document boundary; returns the flushed `PackedExample`, or None if nothing was pending."""
        return self._single(self.pack([], [DOCUMENT_END]))

    @staticmethod
    def _single(examples):
        return PackedExample(*(values[0].tolist() for values in examples)) if len(examples[0]) else None

    def _segments(self, sentences, sentence_lengths):
        """The original's choice of segment A and B sentences for the next example; draws the next target."""
        rng = self.rng
        if rng.random() < SINGLE_SEGMENT_PROBABILITY:
            first_target = _SINGLE_SEGMENT_TARGET
        else:
            first_target = (self._target_length - 3) // 2  # [CLS] and two [SEP] not yet added
        first, second, first_length = [], [], 0
        for sentence in sentences:
            length = sentence_lengths[sentence]
            if (not first or first_length + length < first_target
                    or (not second and first_length < first_target and rng.random() < 0.5)):
                first.append(sentence)
                first_length += length
            else:
                second.append(sentence)
        if rng.random() < RANDOM_LENGTH_PROBABILITY:
            self._target_length = rng.randint(MIN_RANDOM_LENGTH, self.max_seq_length)
        else:
            self._target_length = self.max_seq_length
        return first, second

    def _assemble(self, examples, token_ids, offsets, sentence_lengths):
        """``[CLS] A [SEP] (B [SEP])`` rows for `examples` (lists of A and B sentence indices), A cut to
        ``max - 2`` tokens and B to ``max - len(A) - 3``, gathered from `token_ids` in one pass."""
        size, count = self.max_seq_length, len(examples)
        # One entry per (example, segment, sentence), in output order; group = 2 * example + segment.
        entry_sentence = np.array([s for first, second in examples for s in first + second], np.int64)
        entry_group = np.array([2 * e + segment for e, (first, second) in enumerate(examples)
                                for segment, part in ((0, first), (1, second)) for _ in part], np.int64)
        entry_lengths = np.asarray(sentence_lengths, np.int64)[entry_sentence] if count else np.zeros([0], np.int64)
        group_lengths = np.bincount(entry_group, weights=entry_lengths, minlength=2 * count).astype(np.int64)
        length_a, length_b = group_lengths[0::2], group_lengths[1::2]
        kept_a = np.minimum(length_a, size - 2)
        kept_b = np.minimum(length_b, np.maximum(0, size - kept_a - 3))

        token_group = np.repeat(entry_group, entry_lengths)
        entry_starts = np.cumsum(entry_lengths) - entry_lengths
        source = np.arange(len(token_group)) + np.repeat(offsets[entry_sentence] - entry_starts, entry_lengths)
        group_starts = np.cumsum(group_lengths) - group_lengths
        position = np.arange(len(token_group)) - group_starts[token_group]
        example, in_b = token_group // 2, token_group % 2 == 1
        kept = position < np.where(in_b, kept_b[example], kept_a[example])
        column = np.where(in_b, kept_a[example] + 2, 1) + position

        total = kept_a + 2 + np.where(kept_b > 0, kept_b + 1, 0)
        rows = np.arange(count)
        input_ids = np.full([count, size], self.pad_id, np.int32)
        input_ids[:, 0] = self.cls_id
        input_ids[example[kept], column[kept]] = token_ids[source[kept]]
        input_ids[rows, kept_a + 1] = self.sep_id
        input_ids[rows[kept_b > 0], total[kept_b > 0] - 1] = self.sep_id
        columns = np.arange(size)
        input_mask = (columns < total[:, None]).astype(np.int32)
        segment_ids = ((columns >= kept_a[:, None] + 2) & (columns < total[:, None])).astype(np.int32)

        self.stats.examples += count
        self.stats.tokens += int(total.sum())
        self.stats.padding_tokens += int(size * count - total.sum())
        self.stats.truncated_tokens += int((length_a - kept_a + length_b - kept_b).sum())
        self.stats.single_segment_examples += int((length_b == 0).sum())
        return PackedExample(input_ids, input_mask, segment_ids)
