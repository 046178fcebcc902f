"""Reading a shard's byte ranges as blocks of normalized sentences and document ends, with line counters.

Lines come from `io_utils.read_line_blocks` (a block at a time, the unit of tokenization and packing), are
normalized with a preset of `electra_tf.text`, and become stream items: a sentence, or a document end (a
blank line when blanks separate documents, and the end of every file).
"""

import itertools

import numpy as np

from electra_tf.io_utils import InvalidUtf8, read_line_blocks
from electra_tf.text import text_normalizer

MAX_REPORTED_LOCATIONS = 5


class LineCounters:
    """Lines read, blank, emptied by cleaning, and holding invalid UTF-8 (with the first few locations)."""

    def __init__(self):
        self.lines = 0
        self.empty_lines = 0
        self.lines_emptied_by_cleaning = 0
        self.invalid = InvalidUtf8(MAX_REPORTED_LOCATIONS)

    def as_dict(self):
        return {"lines": self.lines, "empty_lines": self.empty_lines,
                "lines_emptied_by_cleaning": self.lines_emptied_by_cleaning,
                "invalid_utf8_lines": self.invalid.lines,
                "invalid_utf8_locations": [f"{path} (byte {offset})" for path, offset, _ in self.invalid.locations]}


def _blank(texts):
    """Which texts are empty or whitespace only (``not text.strip()``), as a boolean array."""
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    return (lengths == 0) | np.fromiter(map(str.isspace, texts), bool, len(texts))


def stream_items(lines, normalize, blanks_separate_docs, counters):
    """A block's lines as stream items: returns the normalized sentences and, per item, True for a sentence
    or False for a document end (a blank line, when blanks separate documents)."""
    blank = _blank(lines)
    sentences = list(map(normalize, itertools.compress(lines, (~blank).tolist())))
    emptied = _blank(sentences)
    if emptied.any():
        sentences = list(itertools.compress(sentences, (~emptied).tolist()))
    counters.lines += len(lines)
    counters.empty_lines += int(blank.sum())
    counters.lines_emptied_by_cleaning += int(emptied.sum())
    kept = ~blank
    kept[kept] = ~emptied
    return sentences, kept[blank | kept] if blanks_separate_docs else kept[kept]


def shard_blocks(pieces, cleaning, blanks_separate_docs, counters, report):
    """Yields ``(sentences, is_sentence)`` blocks of a shard's ``(path, start, end)`` byte ranges (see
    `stream_items`); `report(num_bytes)` is called as input is read."""
    normalize = text_normalizer(cleaning)
    for path, start, end in pieces:
        for lines in read_line_blocks(path, start, end, counters.invalid, report):
            yield stream_items(lines, normalize, blanks_separate_docs, counters)
        yield [], np.zeros([1], bool)  # every file, and every shard, ends a document
