"""Character classes of transformers' BERT basic tokenizer, from Python's `unicodedata`, and the host-side
text preparation that makes Hugging Face `tokenizers` (Rust) agree with them.

transformers removes NUL, U+FFFD and every "C*" character but tab/newline/CR, and isolates punctuation
(Unicode "P*" plus the ASCII symbols ``$ + < = > ^ ` | ~``) and CJK ideographs. Computing the classes from
`unicodedata` (the table transformers uses) keeps both our tokenizers independent of Rust's and RE2's
Unicode versions.
"""

import functools
import re
import unicodedata

import numpy as np

_KEPT_CONTROLS = (0x09, 0x0A, 0x0D)  # tab, newline, carriage return: whitespace, not removed
_ALWAYS_REMOVED = (0x00, 0xFFFD)
_ASCII_SYMBOLS = ((33, 47), (58, 64), (91, 96), (123, 126))  # BERT's punctuation beyond Unicode "P*"
_CJK_IDEOGRAPHS = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
                   (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
_NUM_CODE_POINTS = 0x110000


@functools.lru_cache(maxsize=None)
def character_tables():
    """Boolean tables over all code points: (removed, isolated, whitespace), computed with NumPy."""
    every_character = np.arange(_NUM_CODE_POINTS, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    categories = "".join(map(unicodedata.category, every_character))  # two letters each
    major = np.frombuffer(categories.encode("ascii"), np.uint8)[0::2]
    removed = major == ord("C")
    removed[list(_KEPT_CONTROLS)] = False
    removed[list(_ALWAYS_REMOVED)] = True
    isolated = major == ord("P")
    for low, high in _ASCII_SYMBOLS + _CJK_IDEOGRAPHS:
        isolated[low:high + 1] = True
    whitespace = np.zeros(_NUM_CODE_POINTS, bool)  # Python's `\s` is exactly `str.isspace`
    whitespace[[match.start() for match in re.finditer(r"\s", every_character)]] = True
    whitespace &= ~removed
    return removed, isolated, whitespace


def is_removed_char(char):
    """Characters transformers' BasicTokenizer deletes: NUL, U+FFFD and "C*" categories but tab/newline/CR."""
    return bool(character_tables()[0][ord(char)])


def is_isolated_char(char):
    """Punctuation (BERT's definition) and CJK ideographs become one-character tokens."""
    return bool(character_tables()[1][ord(char)])


def _ranges(table):
    """``(low, high)`` code point ranges where `table` is True, surrogates left out (not in valid UTF-8)."""
    table = table.copy()
    table[0xD800:0xE000] = False
    edges = np.flatnonzero(np.diff(np.concatenate([[0], table.astype(np.int8), [0]])))
    return [(int(low), int(end) - 1) for low, end in zip(edges[0::2], edges[1::2])]


def _regex_class(ranges):
    parts = [f"\\x{{{low:X}}}" if low == high else f"\\x{{{low:X}}}-\\x{{{high:X}}}" for low, high in ranges]
    return "[" + "".join(parts) + "]"


@functools.lru_cache(maxsize=None)
def character_class_patterns():
    """RE2 patterns: removed characters, whitespace (as Python's str.split sees it), isolated characters."""
    removed, isolated, whitespace = character_tables()
    return _regex_class(_ranges(removed)), _regex_class(_ranges(whitespace)), _regex_class(_ranges(isolated))


# --- host-side preparation -------------------------------------------------------------------------------

_UNCOMMON_CHAR = re.compile(r"[^\t\n\r\x20-\x7e\uac00-\ud7a3\u3131-\u318e]")  # the rest never changes


@functools.lru_cache(maxsize=65536)
def _host_char(char):
    """What a character must become so that `tokenizers`' Rust tables agree with Python's: removed if
    transformers removes it (Rust keeps unassigned code points), padded with spaces if transformers
    isolates it (Rust's punctuation table misses ~100 recent ones, e.g. U+2E52)."""
    if is_removed_char(char):
        return ""
    if is_isolated_char(char):
        return f" {char} "
    return char


def prepare_text(text):
    """`text` with Python's character classes applied where Rust's may differ (see `_host_char`)."""
    return _UNCOMMON_CHAR.sub(lambda match: _host_char(match.group()), text)


def prepare_text_with_origins(text):
    """``(prepare_text(text), origins)``: `origins[j]` is the index in `text` of the character that prepared
    character `j` comes from (a list), or None when preparation changed nothing."""
    pieces, changed, last = [], [], 0
    for match in _UNCOMMON_CHAR.finditer(text):
        replacement = _host_char(match.group())
        if len(replacement) != 1:  # a one-character replacement is the character itself
            pieces += [text[last:match.start()], replacement]
            changed.append((match.start(), len(replacement)))
            last = match.end()
    if not changed:
        return text, None
    lengths = np.ones(len(text), np.int64)
    positions, widths = zip(*changed)
    lengths[list(positions)] = widths
    return "".join(pieces) + text[last:], np.repeat(np.arange(len(text), dtype=np.int64), lengths).tolist()


def original_offsets(offsets, origins, length):
    """Character spans ``[(start, end)]`` in a prepared text mapped back to the original text of `length`
    characters through `origins` (see `prepare_text_with_origins`): a span covers every original character
    its prepared characters come from, removed characters inside it included."""
    if origins is None:
        return [tuple(offset) for offset in offsets]
    origin = origins + [length]
    return [(origin[start], origin[end - 1] + 1 if end > start else origin[start]) for start, end in offsets]
