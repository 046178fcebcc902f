"""Builds ELECTRA pre-training TFRecord shards from a text corpus.

    python -m electra_tf.data.build_pretraining_data --input 'corpus/*.txt' --vocab vocab.txt \
        --output_dir gs://bucket/pretrain_data --max_seq_length 128 [--num_shards N] [--num_workers W] \
        [--seed S] [--cleaning none|koelectra|kcelectra] [--noblanks_separate_docs] [--overwrite]

Input: one sentence per line, a blank line between documents (each file also ends a document); with
``--noblanks_separate_docs`` blank lines are skipped and each file is one document. Lines are NFC-normalized
and cleaned with a preset of `electra_tf.text.normalize_text`, tokenized with `FastTokenizer` (batched) and
packed by `packing.ExampleBuilder`. Output: ``pretrain_data.tfrecord-SSSSS-of-NNNNN`` with int64 features
``input_ids``, ``input_mask``, ``segment_ids`` of length ``max_seq_length`` (readable by the original ELECTRA
code), and ``stats.json``.

Sharding: the corpus (all files, in sorted glob order) is cut into `num_shards` contiguous byte ranges of about
equal size, each ending at a document boundary; shard ``s`` is packed from its range alone with a generator
seeded from ``(seed, s)``. Workers take whole shards, so the output depends on the seed and the number of
shards but not on `num_workers`. Shards are written under a temporary directory and renamed into place only
after every shard is complete.

Deliberate deviations from google-research/electra ``build_pretraining_dataset.py``: shard count sized to
the corpus (``DEFAULT_BYTES_PER_SHARD`` of text per shard, at most 1000) instead of always 1000; each shard
holds consecutive documents (the original deals examples round-robin over its files), so readers must
shuffle (`pretraining_dataset` does); files are read in sorted order, not shuffled; the packing state
(target length, random generator) restarts at each shard; with ``--noblanks_separate_docs`` a shard cut
inside a file ends the example there, as a document boundary would. The tokenizer is the Rust WordPiece
of `electra_tf.tokenization` with ``do_lower_case=False`` and no accent stripping (the original defaults to
lower-casing, which breaks Hangul).
"""

import itertools
import math
import multiprocessing
import os
import uuid

import tensorflow as tf
from tqdm import tqdm

from electra_tf.data.packing import ExampleBuilder, PackingStats
from electra_tf.io_utils import expand_globs, write_json
from electra_tf.text import check_cleaning, normalize_text
from electra_tf.tokenization import CLS_TOKEN, PAD_TOKEN, SEP_TOKEN, FastTokenizer, save_tokenizer_files

SHARD_PREFIX = "pretrain_data.tfrecord"
STATS_FILE = "stats.json"
DEFAULT_BYTES_PER_SHARD = 8 * 1024 * 1024
MAX_DEFAULT_SHARDS = 1000
_READ_BLOCK_BYTES = 4 * 1024 * 1024
_TOKENIZE_BATCH_LINES = 4096
_MAX_REPORTED_LOCATIONS = 5


def shard_name(index, num_shards):
    return f"{SHARD_PREFIX}-{index:05d}-of-{num_shards:05d}"


def default_num_shards(total_bytes):
    """One shard per `DEFAULT_BYTES_PER_SHARD` of text, between 1 and `MAX_DEFAULT_SHARDS`."""
    return max(1, min(MAX_DEFAULT_SHARDS, math.ceil(total_bytes / DEFAULT_BYTES_PER_SHARD)))


# --- planning: byte ranges per shard -----------------------------------------------------------------------

def _next_boundary(path, offset, size, blanks_separate_docs):
    """The first position >= `offset` in `path` where a document (or, without blank-line documents, a
    line) starts: 0, `size`, or just after a newline (after a blank line when blanks separate documents)."""
    if offset <= 0:
        return 0
    with tf.io.gfile.GFile(path, "rb") as handle:
        handle.seek(offset - 1)
        if not handle.readline().endswith(b"\n"):
            return size
        while blanks_separate_docs:
            line = handle.readline()
            if not line:
                return size
            if not line.decode("utf-8", errors="replace").strip():
                break
        return handle.tell()


def plan_shards(files, num_shards, blanks_separate_docs=True):
    """Splits `files` (read in order) into `num_shards` lists of ``(path, start, end)`` byte ranges of about
    equal total size, each list ending at a document boundary. Depends only on the files' contents."""
    sizes = [tf.io.gfile.stat(path).length for path in files]
    total = sum(sizes)
    cuts = [(0, 0)]
    for k in range(1, num_shards):
        target, file_index = k * total // num_shards, 0
        while file_index < len(files) - 1 and target >= sizes[file_index]:
            target -= sizes[file_index]
            file_index += 1
        cut = (file_index, _next_boundary(files[file_index], target, sizes[file_index], blanks_separate_docs))
        cuts.append(max(cut, cuts[-1]))
    cuts.append((len(files) - 1, sizes[-1]))
    plan = []
    for (first_file, start), (last_file, end) in zip(cuts, cuts[1:]):
        pieces = []
        for index in range(first_file, last_file + 1):
            piece_start = start if index == first_file else 0
            piece_end = end if index == last_file else sizes[index]
            if piece_end > piece_start:
                pieces.append((files[index], piece_start, piece_end))
        plan.append(pieces)
    return plan


# --- one shard: read → normalize → tokenize → pack → write -------------------------------------------------

class _LineCounters:
    def __init__(self):
        self.lines = 0
        self.empty_lines = 0
        self.lines_emptied_by_cleaning = 0
        self.invalid_utf8_lines = 0
        self.invalid_utf8_locations = []

    def invalid(self, path, offset):
        self.invalid_utf8_lines += 1
        if len(self.invalid_utf8_locations) < _MAX_REPORTED_LOCATIONS:
            self.invalid_utf8_locations.append(f"{path} (byte {offset})")


def _read_lines(path, start, end, counters, report):
    """Yields the decoded lines of bytes ``[start, end)`` of `path` (whole lines: `start` and `end` are line
    starts or the file's ends); invalid UTF-8 is replaced by U+FFFD and counted."""
    with tf.io.gfile.GFile(path, "rb") as handle:
        handle.seek(start)
        position, carry = start, b""
        while position < end:
            block = handle.read(min(_READ_BLOCK_BYTES, end - position))
            if not block:
                break
            report(len(block))
            block_start = position - len(carry)
            position += len(block)
            block = carry + block
            cut = len(block) if position >= end else block.rfind(b"\n") + 1
            block, carry = block[:cut], block[cut:]
            yield from _decode_lines(block, path, block_start, counters)
        if carry:
            yield from _decode_lines(carry, path, position - len(carry), counters)


def _decode_lines(block, path, block_start, counters):
    if not block:
        return
    try:
        lines = block.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        lines, offset = [], block_start
        for raw in block.split(b"\n"):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                counters.invalid(path, offset)
                lines.append(raw.decode("utf-8", errors="replace"))
            offset += len(raw) + 1
    if block.endswith(b"\n"):
        lines.pop()
    yield from lines


def _shard_items(pieces, cleaning, blanks_separate_docs, counters, report):
    """Yields normalized sentences (str) and document ends (None) of a shard's byte ranges."""
    for path, start, end in pieces:
        for line in _read_lines(path, start, end, counters, report):
            counters.lines += 1
            if not line.strip():
                counters.empty_lines += 1
                if blanks_separate_docs:
                    yield None
                continue
            text = normalize_text(line, cleaning)
            if not text.strip():
                counters.lines_emptied_by_cleaning += 1
                continue
            yield text
        yield None  # every file, and every shard, ends a document


_TOKENIZERS = {}


def _tokenizer(vocab_file):
    if vocab_file not in _TOKENIZERS:
        _TOKENIZERS[vocab_file] = FastTokenizer.from_vocab_file(vocab_file)
    return _TOKENIZERS[vocab_file]


class WordCachedEncoder:
    """`encode_batch` of a tokenizer, memoized per space-separated chunk.

    Exact: U+0020 is always a word boundary of the BERT pre-tokenizer and every normalization step is
    character-local (control removal, NFC, CJK spacing), so the ids of ``"X Y"`` are those of ``"X"`` then
    ``"Y"``; each chunk itself (tabs, control characters and all) still goes through the tokenizer. Corpora
    repeat words heavily, so most chunks are dictionary hits and the Rust tokenizer sees few strings.
    """

    def __init__(self, tokenizer, max_entries=2_000_000):
        self.tokenizer = tokenizer
        self.tokens = tokenizer.tokens
        self.max_entries = max_entries
        self._cache = {}

    def encode_batch(self, texts):
        cache = self._cache
        chunked = [text.split(" ") for text in texts]
        missing = list({chunk for chunks in chunked for chunk in chunks if chunk not in cache})
        if missing:
            if len(cache) + len(missing) > self.max_entries:
                cache.clear()
                missing = list({chunk for chunks in chunked for chunk in chunks})
            cache.update(zip(missing, self.tokenizer.encode_batch(missing)))
        lookup = cache.__getitem__
        return [list(itertools.chain.from_iterable(map(lookup, chunks))) for chunks in chunked]


class ExampleSerializer:
    """`PackedExample` → bytes equal to ``tf.train.Example(...).SerializeToString(deterministic=True)``.

    The protobuf is written directly (features sorted by name, packed int64 varints): about ten times
    faster than building `tf.train.Example` objects. Values of ``input_mask``/``segment_ids`` are 0/1.
    """

    def __init__(self, vocab_size, max_seq_length):
        self._varints = [_varint(value) for value in range(vocab_size)]
        zeros = bytes(max_seq_length)  # mask and segment entries have a fixed size: precompute their headers
        self._mask_prefix = _map_entry(b"input_mask", zeros)[:-max_seq_length]
        self._segment_prefix = _map_entry(b"segment_ids", zeros)[:-max_seq_length]

    def __call__(self, example):
        packed_ids = b"".join(map(self._varints.__getitem__, example.input_ids))
        body = b"".join((_map_entry(b"input_ids", packed_ids), self._mask_prefix, bytes(example.input_mask),
                         self._segment_prefix, bytes(example.segment_ids)))
        return _message(1, body)


def _varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _message(field, payload):
    """A length-delimited field."""
    return bytes([field << 3 | 2]) + _varint(len(payload)) + payload


def _map_entry(name, packed_int64s):
    # Features.feature[name] = Feature(int64_list=Int64List(value=packed))
    feature = _message(3, _message(1, packed_int64s))
    return _message(1, _message(1, name) + _message(2, feature))


def build_shard(task, report=lambda num_bytes: None, tokenizer=None):
    """Packs one shard's byte ranges into the TFRecord file ``task["path"]``; returns its counters.

    `task` holds ``index``, ``pieces``, ``path``, ``vocab_file``, ``max_seq_length``, ``seed``,
    ``cleaning``, ``blanks_separate_docs``. `report(num_bytes)` is called as input is read. `tokenizer`
    (anything with ``tokens`` and ``encode_batch``, used as is) defaults to the vocab's `FastTokenizer`
    behind a `WordCachedEncoder`.
    """
    tokenizer = tokenizer or WordCachedEncoder(_tokenizer(task["vocab_file"]))
    vocab = {token: index for index, token in enumerate(tokenizer.tokens)}
    serialize = ExampleSerializer(len(tokenizer.tokens), task["max_seq_length"])
    builder = ExampleBuilder(task["max_seq_length"], vocab[CLS_TOKEN], vocab[SEP_TOKEN], vocab[PAD_TOKEN],
                             seed=f"electra_tf/{task['seed']}/{task['index']}")
    counters = _LineCounters()
    items = _shard_items(task["pieces"], task["cleaning"], task["blanks_separate_docs"], counters, report)
    with tf.io.TFRecordWriter(task["path"]) as writer:
        def pack(batch):
            encoded = iter(tokenizer.encode_batch([item for item in batch if item is not None]))
            for item in batch:
                example = builder.end_document() if item is None else builder.add_sentence(next(encoded))
                if example is not None:
                    writer.write(serialize(example))

        batch = []
        for item in items:
            batch.append(item)
            if len(batch) >= _TOKENIZE_BATCH_LINES:
                pack(batch)
                batch = []
        pack(batch)
    result = builder.stats.as_dict()
    result.update(vars(counters))
    return result


# --- worker processes ----------------------------------------------------------------------------------------

_progress_queue = None


def _init_worker(queue, threads_per_worker):
    global _progress_queue
    _progress_queue = queue
    os.environ["RAYON_NUM_THREADS"] = str(threads_per_worker)  # the Rust tokenizer's thread pool
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _build_shard_in_worker(task):
    pending = [0]

    def report(num_bytes):
        pending[0] += num_bytes
        if pending[0] >= _READ_BLOCK_BYTES:
            _progress_queue.put(pending[0])
            pending[0] = 0

    result = build_shard(task, report)
    _progress_queue.put(pending[0])
    return result


def _run_tasks(tasks, num_workers, bar):
    """Runs `build_shard` over `tasks`, in this process or in `num_workers` spawned processes."""
    if num_workers <= 1 or len(tasks) <= 1:
        return [build_shard(task, bar.update) for task in tasks]
    import queue as queue_module

    context = multiprocessing.get_context("spawn")  # TensorFlow and the Rust tokenizer are not fork-safe
    progress = context.Queue()
    threads = max(1, (os.cpu_count() or 1) // num_workers)
    with context.Pool(num_workers, initializer=_init_worker, initargs=(progress, threads)) as pool:
        pending = [pool.apply_async(_build_shard_in_worker, (task,)) for task in tasks]
        while not all(result.ready() for result in pending):
            try:
                bar.update(progress.get(timeout=0.2))
            except queue_module.Empty:
                pass
            for result in pending:  # surface a worker's error at once
                if result.ready() and not result.successful():
                    result.get()
        results = [result.get() for result in pending]
        while not progress.empty():
            bar.update(progress.get())
    return results


# --- the whole build -------------------------------------------------------------------------------------------

def _check_output_dir(output_dir, overwrite):
    if tf.io.gfile.exists(output_dir) and tf.io.gfile.listdir(output_dir) and not overwrite:
        raise FileExistsError(f"output_dir {output_dir} is not empty; pass --overwrite to replace its shards")


def _merge_stats(results):
    merged, stats = {}, PackingStats()
    for result in results:
        stats += PackingStats(**{key: result[key] for key in vars(PackingStats())})
        for key in ("lines", "empty_lines", "lines_emptied_by_cleaning", "invalid_utf8_lines"):
            merged[key] = merged.get(key, 0) + result[key]
        merged.setdefault("invalid_utf8_locations", []).extend(result["invalid_utf8_locations"])
    merged["invalid_utf8_locations"] = merged["invalid_utf8_locations"][:_MAX_REPORTED_LOCATIONS]
    merged.update(stats.as_dict())
    return merged


def _publish(temporary_dir, output_dir, names):
    """Moves the finished shards into `output_dir`, removing shards of an earlier build that remain."""
    for stale in tf.io.gfile.glob(os.path.join(output_dir, SHARD_PREFIX + "-*")):
        if os.path.basename(stale) not in names:
            tf.io.gfile.remove(stale)
    for name in names:
        tf.io.gfile.rename(os.path.join(temporary_dir, name), os.path.join(output_dir, name), overwrite=True)


def build_pretraining_data(inputs, vocab_file, output_dir, max_seq_length=128, num_shards=None, num_workers=1,
                           seed=0, cleaning="none", blanks_separate_docs=True, overwrite=False, progress=True):
    """Builds the shards and ``stats.json`` in `output_dir`; returns the statistics (also in stats.json).

    Args:
      inputs: a file, glob or list of them (local or ``gs://``), one sentence per line.
      vocab_file: the WordPiece ``vocab.txt``.
      output_dir: where ``pretrain_data.tfrecord-*`` and ``stats.json`` go; must be empty unless `overwrite`.
      max_seq_length: tokens per example, [CLS]/[SEP] included.
      num_shards: number of output files (default: `default_num_shards` of the input size).
      num_workers: processes building shards in parallel (does not change the output).
      seed: seed of the packing's random choices.
      cleaning: a preset of `electra_tf.text.normalize_text` ("none", "koelectra", "kcelectra").
      blanks_separate_docs: blank lines end documents; if False each file is one document.
      overwrite: allow a non-empty `output_dir` (its earlier shards are replaced once the new ones are done).
      progress: show a progress bar over the bytes read.
    """
    check_cleaning(cleaning)
    if max_seq_length < 5:
        raise ValueError(f"max_seq_length={max_seq_length} must be at least 5")
    if num_workers < 1:
        raise ValueError(f"num_workers={num_workers} must be at least 1")
    if num_shards is not None and num_shards < 1:
        raise ValueError(f"num_shards={num_shards} must be at least 1")
    tokenizer = _tokenizer(os.fspath(vocab_file))  # a missing or invalid vocab fails here, before any work
    files = expand_globs(inputs)
    total_bytes = sum(tf.io.gfile.stat(path).length for path in files)
    if total_bytes == 0:
        raise ValueError(f"Empty corpus: the input files {files} hold no text")
    _check_output_dir(output_dir, overwrite)
    num_shards = num_shards or default_num_shards(total_bytes)
    plan = plan_shards(files, num_shards, blanks_separate_docs)

    tf.io.gfile.makedirs(output_dir)
    temporary_dir = os.path.join(output_dir, f".incomplete-{uuid.uuid4().hex[:8]}")
    tf.io.gfile.makedirs(temporary_dir)
    names = [shard_name(index, num_shards) for index in range(num_shards)]
    tasks = [dict(index=index, pieces=pieces, path=os.path.join(temporary_dir, names[index]),
                  vocab_file=os.fspath(vocab_file), max_seq_length=int(max_seq_length), seed=int(seed),
                  cleaning=cleaning, blanks_separate_docs=bool(blanks_separate_docs))
             for index, pieces in enumerate(plan)]
    try:
        with tqdm(total=total_bytes, unit="B", unit_scale=True, desc="building shards",
                  disable=not progress) as bar:
            results = _run_tasks(tasks, num_workers, bar)
        stats = _merge_stats(results)
        if stats["examples"] == 0:
            raise ValueError(f"Empty corpus: no tokens in the input files {files} "
                             f"({stats['lines']} lines, {stats['empty_lines']} blank)")
        _publish(temporary_dir, output_dir, names)
    finally:
        if tf.io.gfile.exists(temporary_dir):
            tf.io.gfile.rmtree(temporary_dir)
    stats.update(
        inputs=[inputs] if isinstance(inputs, str) else list(inputs), num_files=len(files), input_bytes=total_bytes,
        vocab_file=os.fspath(vocab_file), vocab_size=tokenizer.vocab_size, max_seq_length=int(max_seq_length),
        seed=int(seed), cleaning=cleaning, blanks_separate_docs=bool(blanks_separate_docs), num_shards=num_shards,
        shards=[{"file": name, "examples": result["examples"], "input_bytes": sum(e - s for _, s, e in task["pieces"])}
                for name, result, task in zip(names, results, tasks)])
    save_tokenizer_files(vocab_file, output_dir)  # run_pretraining.py finds the vocabulary beside the shards
    write_json(os.path.join(output_dir, STATS_FILE), stats)
    return stats


# --- command line -----------------------------------------------------------------------------------------------

def _define_flags():
    from absl import flags

    flags.DEFINE_multi_string("input", None, "Corpus file or glob (local or gs://); repeatable.", required=True)
    flags.DEFINE_string("vocab", None, "WordPiece vocab.txt.", required=True)
    flags.DEFINE_string("output_dir", None, "Directory for the TFRecord shards and stats.json.", required=True)
    flags.DEFINE_integer("max_seq_length", 128, "Tokens per example, [CLS]/[SEP] included.", lower_bound=5)
    flags.DEFINE_integer("num_shards", None, "Output files (default: one per 8 MiB of text, at most 1000).",
                         lower_bound=1)
    flags.DEFINE_integer("num_workers", 1, "Parallel processes (the output does not depend on it).", lower_bound=1)
    flags.DEFINE_integer("seed", 0, "Seed of the packing's random choices.")
    flags.DEFINE_enum("cleaning", "none", ["none", "koelectra", "kcelectra"], "Text cleaning preset (NFC always).")
    flags.DEFINE_bool("blanks_separate_docs", True,
                      "Blank lines separate documents; --noblanks_separate_docs: each file is one document.")
    flags.DEFINE_bool("overwrite", False, "Replace the shards of a non-empty output_dir.")
    return flags.FLAGS


def main(argv):
    del argv
    from absl import flags

    # Imported by name so that worker processes find the functions under their package path.
    from electra_tf.data.build_pretraining_data import build_pretraining_data as build

    flag_values = flags.FLAGS
    stats = build(flag_values.input, flag_values.vocab, flag_values.output_dir, flag_values.max_seq_length,
                  flag_values.num_shards, flag_values.num_workers, flag_values.seed, flag_values.cleaning,
                  flag_values.blanks_separate_docs, flag_values.overwrite)
    print(f"{stats['examples']} examples from {stats['documents']} documents in {stats['num_shards']} shard(s) "
          f"→ {flag_values.output_dir} (padding {stats['padding_fraction']:.1%}, "
          f"{stats['truncated_tokens']} tokens truncated, {stats['invalid_utf8_lines']} invalid-UTF-8 lines)")


if __name__ == "__main__":
    from absl import app

    _define_flags()
    app.run(main)
