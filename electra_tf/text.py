"""Korean text normalization, cleaning presets and a UTF-8-tolerant line reader.

`normalize_text` always applies Unicode NFC first (NFD Hangul from macOS files becomes precomposed
syllables, never loose conjoining jamo), then one named cleaning preset:

- ``none``: NFC only.
- ``koelectra``: control and format characters (zero-width spaces, BOM, ...) removed, any run of
  whitespace collapsed to one space, ends stripped.
- ``kcelectra``: character for character the ``clean()`` published with KcELECTRA/KcBERT, in its order:
  (1) every run of characters other than ASCII, Hangul compatibility jamo (ㄱ–ㅣ), Hangul syllables and
  ``％·∼`` becomes one space (so an emoji between two words leaves a space); (2) emoji removed
  (`emoji.replace_emoji`); (3) ``http(s)://`` URLs removed (the published pattern: nothing is left in their
  place, ``www.`` addresses without a scheme stay, and a URL directly followed by Hangul is only removed
  when it has a path, as the pattern's ``\\b`` needs a non-word character after the domain); (4) ends
  stripped; (5) `soynlp` ``repeat_normalize(num_repeats=2)``: a character repeated four or more times is
  kept twice (``ㅋㅋㅋㅋ`` → ``ㅋㅋ``, ``하하하하`` → ``하하``) and whitespace runs become one space.

`LineReader` iterates over ``(path, line_number, text)`` of text files (local or ``gs://``), read by
`io_utils.read_line_blocks`: invalid UTF-8 becomes U+FFFD and the lines that held it are counted.
"""

import functools
import re
import unicodedata

import tensorflow as tf
from tqdm import tqdm

from electra_tf.io_utils import InvalidUtf8, expand_globs, read_line_blocks

CLEANING_PRESETS = ("none", "koelectra", "kcelectra")

_CONTROL_CATEGORIES = ("Cc", "Cf", "Co", "Cs", "Cn")
_WHITESPACE_RUN = re.compile(r"\s+")
# KcELECTRA's clean(): the characters it keeps, and its URL pattern (as published).
_KCELECTRA_OUTSIDE = re.compile(r"[^ .,?!/@$%~％·∼()\x00-\x7Fㄱ-ㅣ가-힣]+")
_KCELECTRA_URL = re.compile(
    r"https?:\/\/(www\.)?[-a-zA-Z0-9@:%._\+~#=]{1,256}\.[a-zA-Z0-9()]{1,6}\b([-a-zA-Z0-9()@:%_\+.~#?&//=]*)")


def _remove_control_characters(text):
    """Drops control/format/private/unassigned characters; tabs and newlines become spaces."""
    return "".join(
        " " if char in "\t\n\r" else char
        for char in text
        if char in "\t\n\r" or unicodedata.category(char) not in _CONTROL_CATEGORIES
    )


def _collapse_whitespace(text):
    return _WHITESPACE_RUN.sub(" ", text).strip()


def _clean_koelectra(text):
    return _collapse_whitespace(_remove_control_characters(text))


@functools.lru_cache(maxsize=None)
def _kcelectra_steps():
    """`(replace_emoji or None, repeat_normalize)` for the kcelectra preset.

    `emoji.replace_emoji` only removes emoji (sequences listed in `EMOJI_DATA`), ZWJs and variation
    selectors; after step (1) only ASCII, Hangul and ``％·∼`` remain, so unless some emoji consists of
    those characters alone the call cannot change the text and is skipped (it costs ~200 µs a line).
    """
    import emoji  # optional dependencies of this preset only
    from soynlp.normalizer import repeat_normalize

    needed = any(not _KCELECTRA_OUTSIDE.search(key) for key in emoji.EMOJI_DATA)
    return (emoji.replace_emoji if needed else None), repeat_normalize


def _clean_kcelectra(text):
    replace_emoji, repeat_normalize = _kcelectra_steps()
    text = _KCELECTRA_OUTSIDE.sub(" ", text)
    if replace_emoji is not None:
        text = replace_emoji(text, replace="")
    text = _KCELECTRA_URL.sub("", text)
    return repeat_normalize(text.strip(), num_repeats=2)


_CLEANERS = {"none": None, "koelectra": _clean_koelectra, "kcelectra": _clean_kcelectra}


def check_cleaning(cleaning):
    """Raises a clear error for an unknown preset name; returns the name."""
    if cleaning not in _CLEANERS:
        raise ValueError(f"cleaning={cleaning!r} is not one of {', '.join(CLEANING_PRESETS)}")
    return cleaning


def text_normalizer(cleaning="none"):
    """The function ``text -> normalize_text(text, cleaning)`` of one preset (for mapping over many lines)."""
    nfc = functools.partial(unicodedata.normalize, "NFC")
    if check_cleaning(cleaning) == "none":
        return nfc
    clean = _CLEANERS[cleaning]
    return lambda text: clean(nfc(text))


def normalize_text(text, cleaning="none"):
    """Returns `text` in Unicode NFC, then cleaned with the named preset (see `CLEANING_PRESETS`)."""
    return text_normalizer(cleaning)(text)


class LineReader:
    """Iterates over ``(path, line_number, text)`` of every line of the files matched by `paths`.

    Args:
      paths: a file, glob, or list of them (local or ``gs://``); each must match something.
      cleaning: a preset of `normalize_text`, applied to each line (NFC is always applied).
      progress: show a tqdm bar over the bytes read.

    Line numbers start at 1. A line that was blank in the file yields ``""`` (a document boundary in
    corpus files); a non-blank line that cleaning empties is skipped and counted in `dropped_lines`.
    Invalid UTF-8 is replaced by U+FFFD and the affected lines are counted in `invalid_utf8_lines`
    (the first few locations are kept in `invalid_utf8_examples` as ``(path, line_number)``).
    """

    def __init__(self, paths, cleaning="none", progress=False):
        self.files = expand_globs(paths)
        self.cleaning = check_cleaning(cleaning)
        self._normalize = text_normalizer(cleaning)
        self.progress = progress
        self._invalid = InvalidUtf8()
        self.dropped_lines = 0

    def total_bytes(self):
        return sum(tf.io.gfile.stat(path).length for path in self.files)

    def __iter__(self):
        total = self.total_bytes()
        bar = tqdm(total=total, unit="B", unit_scale=True, desc="reading", disable=not self.progress or not total)
        with bar:
            for path in self.files:
                line_number = 0
                for lines in read_line_blocks(path, invalid=self._invalid, on_read=bar.update):
                    for text in lines:
                        line_number += 1
                        if not text.strip():
                            yield path, line_number, ""
                            continue
                        text = self._normalize(text)
                        if not text.strip():
                            self.dropped_lines += 1
                            continue
                        yield path, line_number, text

    @property
    def invalid_utf8_lines(self):
        return self._invalid.lines

    @property
    def invalid_utf8_examples(self):
        """``(path, line_number)`` of the first few lines that held invalid UTF-8."""
        return [(path, line_number) for path, _, line_number in self._invalid.locations]

    def report(self):
        """A one-line summary of replaced and dropped lines (empty string when there is nothing to say)."""
        parts = []
        if self.invalid_utf8_lines:
            where = ", ".join(f"{path}:{line}" for path, line in self.invalid_utf8_examples)
            parts.append(f"{self.invalid_utf8_lines} line(s) had invalid UTF-8, replaced by U+FFFD (e.g. {where})")
        if self.dropped_lines:
            parts.append(f"{self.dropped_lines} line(s) were empty after {self.cleaning!r} cleaning and skipped")
        return "; ".join(parts)

