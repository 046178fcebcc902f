"""Corpus preparation: cleans, filters and de-duplicates text files into one corpus file.

    python -m electra_tf.prepare --input 'raw/*.txt' [--input gs://b/more-*.txt] --output corpus/clean.txt \\
        [--cleaning none|koelectra|kcelectra] [--min_chars 0] [--dedupe] [--noblanks_separate_docs] \\
        [--num_workers 0]

Input: one text (sentence, comment, paragraph) per line, a blank line between documents; each file also ends
a document (with ``--noblanks_separate_docs`` blank lines are skipped and each file is one document). Every
line is decoded (invalid UTF-8 replaced and counted), NFC-normalized and cleaned with a preset of
`electra_tf.text.normalize_text`; it is then dropped if cleaning emptied it, if the cleaned text has fewer than
``--min_chars`` characters (``len``), and with ``--dedupe`` if it equals a line kept earlier (anywhere in the
corpus). KcELECTRA's corpus steps are ``--cleaning kcelectra --min_chars 10 --dedupe``.

Output: the kept lines, documents separated by one blank line (documents left empty vanish), written under a
temporary name and renamed into place, so a killed run leaves at most a stray ``.NAME.tmp-*`` file and never
a partial corpus; then ``PATH.stats.json`` (lines in/out, removed as empty/short/duplicate, invalid UTF-8,
documents, bytes). All file I/O goes through `tf.io.gfile` (local or ``gs://``).

Processes: cleaning is the CPU cost (kcelectra: ~35 µs a line). With more than one worker (default: every
core this process may use), batches of lines are cleaned by a pool of forked processes; at most a few batches
are in flight, so memory stays bounded, and results are consumed in input order, so the output does not
depend on the number of workers. Reading (UTF-8 decoding, NFC), de-duplication and writing stay in the main
process. The ``none`` preset always runs in one process. The workers are forked, not spawned: spawned
workers would re-import this module, hence TensorFlow (seconds and ~700 MB each); forked ones only run
pure-Python cleaning and never call TensorFlow, which is what makes forking a TensorFlow process safe here.
The main process costs ~20 µs a line (mostly `LineReader`'s per-line `tf.io.gfile` reads), so the speed-up
levels off at a few workers (kcelectra cleaning: ~35-50 µs a line per worker).

De-duplication memory: each kept line costs one 64-bit BLAKE2b digest. Digests live in a sorted NumPy
``uint64`` array (8 bytes a line) plus a Python set of up to `_RECENT_HASHES` (2**20) recent ones (~70 MB
when full), merged into the array when full; a merge briefly holds the old and the new array. Measured with
tracemalloc over 10M distinct lines: 11.2 bytes a line held, 25.7 at the peak of a merge; so per 100M
distinct lines ~0.9 GB held and ~1.7 GB at a merge's peak (a plain Python set of the same integers: 69 bytes a
line, ~7 GB per 100M lines). Two different lines share a digest with probability ~n²/2⁶⁵ (n = 100M lines:
~3·10⁻⁴ that even one line is wrongly dropped as a duplicate).
"""

import collections
import hashlib
import multiprocessing
import os
import time

import numpy as np
import tensorflow as tf
from absl import flags

from electra_tf import cli
from electra_tf.io_utils import atomic_file, expand_globs, write_json
from electra_tf.text import CLEANING_PRESETS, LineReader, check_cleaning, text_normalizer

STATS_SUFFIX = ".stats.json"
_BATCH_LINES = 2000  # lines per unit of work sent to a worker
_BATCHES_IN_FLIGHT_PER_WORKER = 2
_RECENT_HASHES = 1 << 20


def line_hashes(texts):
    """64-bit BLAKE2b digests of the UTF-8 of each text, as a ``uint64`` array."""
    digests = b"".join(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest() for text in texts)
    return np.frombuffer(digests, dtype=np.uint64)


def clean_batch(texts, cleaning, with_hashes=False):
    """`normalize_text` over `texts`, passing ``None`` entries (document boundaries) through.

    Returns ``(cleaned, hashes)``: `cleaned` has one entry per input (``None`` stays ``None``; a line that
    cleaning empties becomes ``""``); `hashes` holds `line_hashes` of the non-``None`` entries, in order,
    when `with_hashes` (else None). This is the unit of work of the worker processes.
    """
    normalize = text_normalizer(cleaning)
    cleaned = [None if text is None else normalize(text) for text in texts]
    hashes = line_hashes([text for text in cleaned if text is not None]) if with_hashes else None
    return cleaned, hashes


class HashSet:
    """A set of 64-bit hashes: a sorted ``uint64`` array plus a Python set of recent additions."""

    def __init__(self, recent_limit=_RECENT_HASHES):
        self._sorted = np.empty(0, dtype=np.uint64)
        self._recent = set()
        self._recent_limit = recent_limit

    def __len__(self):
        return len(self._sorted) + len(self._recent)

    def add_new(self, hashes):
        """Adds `hashes` in order; returns a boolean mask, True where a hash was not present before
        (neither added earlier nor earlier in `hashes`)."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        if len(self._sorted):
            positions = np.minimum(np.searchsorted(self._sorted, hashes), len(self._sorted) - 1)
            known = self._sorted[positions] == hashes
        else:
            known = np.zeros(len(hashes), dtype=bool)
        new = np.zeros(len(hashes), dtype=bool)
        recent = self._recent
        for index, (value, seen) in enumerate(zip(hashes.tolist(), known.tolist())):
            if not seen and value not in recent:
                recent.add(value)
                new[index] = True
        if len(recent) >= self._recent_limit:
            self._merge_recent()
        return new

    def _merge_recent(self):
        recent = np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
        recent.sort()
        self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, recent), recent)
        self._recent = set()


class _CorpusWriter:
    """Writes kept lines with one blank line between non-empty documents; counts lines, documents, bytes."""

    def __init__(self, handle):
        self._handle = handle
        self._state = "start"  # "start": nothing written; "in": inside a document; "after": after a boundary
        self.documents = self.lines = self.bytes = 0

    def write_batch(self, items):
        """`items`: kept lines (str) and document boundaries (None), in order."""
        parts = []
        for item in items:
            if item is None:
                if self._state == "in":
                    self._state = "after"
                continue
            if self._state == "after":
                parts.append("\n")
            if self._state != "in":
                self.documents += 1
                self._state = "in"
            parts.append(item + "\n")
            self.lines += 1
        data = "".join(parts).encode("utf-8")
        self.bytes += len(data)
        self._handle.write(data)


def _input_batches(reader, blanks_separate_docs, counts):
    """Lists of at most `_BATCH_LINES` NFC lines, with None where a document ends."""
    batch, previous_path = [], None
    for path, _, text in reader:
        if path != previous_path:
            if previous_path is not None:
                batch.append(None)  # each file ends a document
            previous_path = path
        if text:
            counts["lines_in"] += 1
            batch.append(text)
        else:
            counts["blank_lines_in"] += 1
            if blanks_separate_docs:
                batch.append(None)
        if len(batch) >= _BATCH_LINES:
            yield batch
            batch = []
    if batch:
        yield batch


def _cleaned_batches(batches, cleaning, with_hashes, processes):
    """`clean_batch` over `batches`, in order: in this process, or in a pool of forked processes with a
    bounded number of batches in flight."""
    if processes <= 1:
        for batch in batches:
            yield clean_batch(batch, cleaning, with_hashes)
        return
    text_normalizer(cleaning)("")  # lazy imports of the preset happen once, before forking
    context = multiprocessing.get_context("fork")  # see the module docstring
    with context.Pool(processes) as pool:
        pending = collections.deque()
        for batch in batches:
            pending.append(pool.apply_async(clean_batch, (batch, cleaning, with_hashes)))
            if len(pending) >= processes * _BATCHES_IN_FLIGHT_PER_WORKER:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def available_cores():
    """The number of CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _check_paths(files, output):
    if tf.io.gfile.isdir(output):
        raise IsADirectoryError(f"--output {output} is a directory; give a file path")
    if os.path.normpath(output) in {os.path.normpath(path) for path in files}:
        raise ValueError(f"--output {output} is also one of the --input files")


def prepare_corpus(inputs, output, cleaning="none", min_chars=0, dedupe=False, blanks_separate_docs=True,
                   num_workers=0, progress=True):
    """Writes the cleaned, filtered (and with `dedupe` de-duplicated) lines of `inputs` to `output` and
    their statistics to ``output + STATS_SUFFIX``; returns the statistics.

    `num_workers`: processes that clean (0: every available core); the output does not depend on it.
    """
    check_cleaning(cleaning)
    for name, value in (("min_chars", min_chars), ("num_workers", num_workers)):
        if value < 0:
            raise ValueError(f"--{name}={value} must not be negative")
    files = expand_globs(inputs)
    _check_paths(files, output)
    processes = (num_workers or available_cores()) if cleaning != "none" else 1
    started = time.time()
    counts = collections.Counter(lines_in=0, blank_lines_in=0, removed_empty=0, removed_short=0,
                                 removed_duplicate=0)
    seen = HashSet() if dedupe else None
    reader = LineReader(files, "none", progress=progress)
    with atomic_file(output, "wb") as handle:
        writer = _CorpusWriter(handle)
        batches = _cleaned_batches(_input_batches(reader, blanks_separate_docs, counts), cleaning, dedupe, processes)
        for cleaned, hashes in batches:
            writer.write_batch(_filtered(cleaned, hashes, min_chars, seen, counts))
    stats = {
        "inputs": files, "output": output, "cleaning": cleaning, "min_chars": min_chars, "dedupe": dedupe,
        "blanks_separate_docs": blanks_separate_docs, **counts, "lines_out": writer.lines,
        "documents": writer.documents, "invalid_utf8_lines": reader.invalid_utf8_lines,
        "invalid_utf8_locations": [f"{path}:{line}" for path, line in reader.invalid_utf8_examples],
        "bytes_in": reader.total_bytes(), "bytes_out": writer.bytes, "worker_processes": processes,
        "seconds": round(time.time() - started, 3),
    }
    write_json(output + STATS_SUFFIX, stats)
    return stats


def _filtered(cleaned, hashes, min_chars, seen, counts):
    """The kept lines and boundaries (None) of one cleaned batch; counts what is removed and why."""
    output, candidate_slots, candidate_hashes = [], [], []
    text_index = -1
    for text in cleaned:
        if text is None:
            output.append(None)
            continue
        text_index += 1
        if not text:
            counts["removed_empty"] += 1
        elif len(text) < min_chars:
            counts["removed_short"] += 1
        else:
            if seen is not None:
                candidate_slots.append(len(output))
                candidate_hashes.append(hashes[text_index])
            output.append(text)
    if seen is None or not candidate_slots:
        return output
    for slot, is_new in zip(candidate_slots, seen.add_new(candidate_hashes).tolist()):
        if not is_new:
            output[slot] = False
            counts["removed_duplicate"] += 1
    return [item for item in output if item is not False]


def define_flags():
    """Defines the command-line flags (only when run as a script, so importing defines nothing)."""
    flags.DEFINE_multi_string("input", None, "Text file or glob (local or gs://); repeatable.")
    flags.DEFINE_string("output", None, "Corpus file to write (local or gs://); PATH.stats.json is written too.")
    flags.DEFINE_enum("cleaning", "none", CLEANING_PRESETS, "Cleaning preset (NFC is always applied).")
    flags.DEFINE_integer("min_chars", 0, "Drop lines with fewer characters than this after cleaning.")
    flags.DEFINE_bool("dedupe", False, "Drop lines equal to a line kept earlier.")
    flags.DEFINE_bool("blanks_separate_docs", True,
                      "Blank lines separate documents; --noblanks_separate_docs: each file is one document.")
    flags.DEFINE_integer("num_workers", 0, "Cleaning processes (0: every available core); output is the same.")
    flags.DEFINE_bool("progress", True, "Show a progress bar.")
    flags.mark_flags_as_required(["input", "output"])
    return flags.FLAGS


def main(argv):
    del argv
    values = flags.FLAGS
    stats = prepare_corpus(values.input, values.output, values.cleaning, values.min_chars, values.dedupe,
                           values.blanks_separate_docs, values.num_workers, values.progress)
    print(f"{stats['lines_out']} of {stats['lines_in']} lines in {stats['documents']} documents → {values.output} "
          f"(removed: {stats['removed_empty']} empty, {stats['removed_short']} short, "
          f"{stats['removed_duplicate']} duplicate; {stats['invalid_utf8_lines']} invalid-UTF-8 lines)")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
