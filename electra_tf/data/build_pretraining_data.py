"""Builds ELECTRA pre-training TFRecord shards from a text corpus.

    python -m electra_tf.data.build_pretraining_data --input 'corpus/*.txt' --vocab vocab.txt \
        --output_dir gs://bucket/pretrain_data --max_seq_length 128 [--num_shards N] [--num_workers W] \
        [--seed S] [--cleaning none|koelectra|kcelectra] [--noblanks_separate_docs] [--overwrite]

Input: one sentence per line, a blank line between documents (each file also ends a document); with
``--noblanks_separate_docs`` blank lines are skipped and each file is one document. Lines are NFC-normalized
and cleaned with a preset of `electra_tf.text.normalize_text`, tokenized a block at a time by the in-graph
WordPiece (`LineTokenizer`; the same ids as `FastTokenizer` and transformers), packed by
`packing.ExampleBuilder` and serialized by `example_records`. Output:
``pretrain_data.tfrecord-SSSSS-of-NNNNN`` with int64 features ``input_ids``, ``input_mask``, ``segment_ids``
of length ``max_seq_length`` (readable by the original ELECTRA code), and ``stats.json``.

Sharding: the corpus (all files, in sorted glob order) is cut into `num_shards` contiguous byte ranges of about
equal size, each ending at a document boundary; shard ``s`` is packed from its range alone with a generator
seeded from ``(seed, s)``. Workers take whole shards, so the output depends on the seed and the number of
shards but not on `num_workers`. Shards are written under a temporary directory and renamed into place only
after every shard is complete.

Processes: one process already keeps two cores busy (it tokenizes in TensorFlow's threads while Python packs),
and a worker process costs about 3 s to start (it imports TensorFlow), so `num_workers` is a maximum: the
build uses one process per two CPU cores, per `MIN_BYTES_PER_WORKER` of input and per shard at most, and
records the number in ``stats.json`` as ``worker_processes``.

Deliberate deviations from google-research/electra ``build_pretraining_dataset.py``: shard count sized to
the corpus (``DEFAULT_BYTES_PER_SHARD`` of text per shard, at most 1000) instead of always 1000; each shard
holds consecutive documents (the original deals examples round-robin over its files), so readers must
shuffle (`pretraining_dataset` does); files are read in sorted order, not shuffled; the packing state
(target length, random generator) restarts at each shard; with ``--noblanks_separate_docs`` a shard cut
inside a file ends the example there, as a document boundary would. The tokenizer is the WordPiece of
`electra_tf.tokenization` with ``do_lower_case=False`` and no accent stripping (the original defaults to
lower-casing, which breaks Hangul).
"""

import collections
import contextlib
import itertools
import math
import multiprocessing
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from electra_tf.data.example_records import serialize_examples
from electra_tf.data.packing import DOCUMENT_END, ExampleBuilder, PackingStats
from electra_tf.io_utils import expand_globs, write_json
from electra_tf.text import check_cleaning, text_normalizer
from electra_tf.tokenization import (CLS_TOKEN, PAD_TOKEN, SEP_TOKEN, InGraphTokenizer, load_checked_vocab,
                                     save_tokenizer_files)

SHARD_PREFIX = "pretrain_data.tfrecord"
STATS_FILE = "stats.json"
DEFAULT_BYTES_PER_SHARD = 8 * 1024 * 1024
MAX_DEFAULT_SHARDS = 1000
_READ_BLOCK_BYTES = 1024 * 1024  # also the unit of tokenization and packing
_READ_AHEAD_BLOCKS = 16  # blocks read and normalized while the tokenizer is busy
_TOKENIZER_THREADS = 2  # blocks tokenized at once (TensorFlow runs them in parallel, outside the GIL)
MIN_BYTES_PER_WORKER = 128 * 1024 * 1024  # below this share of the input, a process costs more than it saves
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


def _read_blocks(path, start, end, counters, report):
    """Yields the decoded lines of bytes ``[start, end)`` of `path` in blocks (lists) of whole lines (`start`
    and `end` are line starts or the file's ends); invalid UTF-8 is replaced by U+FFFD and counted."""
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
            yield _decode_lines(block, path, block_start, counters)
        if carry:
            yield _decode_lines(carry, path, position - len(carry), counters)


def _decode_lines(block, path, block_start, counters):
    if not block:
        return []
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
    return lines


def _blank(texts):
    """Which texts are empty or whitespace only (``not text.strip()``), as a boolean array."""
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    return (lengths == 0) | np.fromiter(map(str.isspace, texts), bool, len(texts))


def _stream_items(lines, normalize, blanks_separate_docs, counters):
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


def _shard_blocks(pieces, cleaning, blanks_separate_docs, counters, report):
    """Yields ``(sentences, is_sentence)`` blocks of a shard's byte ranges (see `_stream_items`)."""
    normalize = text_normalizer(cleaning)
    for path, start, end in pieces:
        for lines in _read_blocks(path, start, end, counters, report):
            yield _stream_items(lines, normalize, blanks_separate_docs, counters)
        yield [], np.zeros([1], bool)  # every file, and every shard, ends a document


class LineTokenizer:
    """WordPiece ids of many lines at once, as `FastTokenizer.encode_batch` gives them: the in-graph
    tokenizer's `distinct_chunk_token_ids` in a `tf.function` (its ops run without the GIL, so a block is
    tokenized while the previous one is packed).

    The vocabulary is read and checked at once; the layer is built and its graph traced and run once in a
    background thread, while the caller goes on reading the corpus.
    """

    def __init__(self, vocab_file):
        self.tokens = load_checked_vocab(vocab_file)
        background = ThreadPoolExecutor(1)
        self._encode = background.submit(self._build_encoder)
        background.shutdown(wait=False)  # the thread ends once the encoder is built

    def _build_encoder(self):
        layer = InGraphTokenizer(self.tokens)

        def flat_ids(lines):
            ids = layer.distinct_chunk_token_ids(lines)
            return ids.flat_values, ids.row_lengths()

        encode = tf.function(flat_ids, input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
        encode(tf.constant(["warm up"]))
        return encode

    def encode_lines(self, lines):
        """Returns the ids of all `lines` concatenated (int32) and the number of ids of each line."""
        if not lines:
            return np.zeros([0], np.int32), np.zeros([0], np.int64)
        ids, lengths = self._encode.result()(tf.constant(np.array(lines, dtype=object)))
        return ids.numpy(), lengths.numpy()


_TOKENIZERS = {}


def _tokenizer(vocab_file):
    if vocab_file not in _TOKENIZERS:
        _TOKENIZERS[vocab_file] = LineTokenizer(vocab_file)
    return _TOKENIZERS[vocab_file]


class _ShardOutput:
    """One shard's packer and TFRecord writer (a context manager that closes the file on errors)."""

    def __init__(self, task, special_ids):
        """`special_ids`: the vocabulary's ids of [CLS], [SEP] and [PAD]."""
        self.builder = ExampleBuilder(task["max_seq_length"], *special_ids,
                                      seed=f"electra_tf/{task['seed']}/{task['index']}")
        self.counters = _LineCounters()
        self._writer = tf.io.TFRecordWriter(task["path"])

    def write(self, is_sentence, tokenized):
        """Packs a tokenized block (see `_stream_items`) and writes the examples it completes."""
        ids, sentence_lengths = tokenized
        lengths = np.full(len(is_sentence), DOCUMENT_END, np.int64)
        lengths[is_sentence] = sentence_lengths
        write = self._writer.write
        for record in serialize_examples(self.builder.pack(ids, lengths)):
            write(record)

    def close(self):
        """Closes the file; returns the shard's counters."""
        self._writer.close()
        result = self.builder.stats.as_dict()
        result.update(vars(self.counters))
        return result

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._writer.close()


def build_shards(tasks, report=lambda num_bytes: None, tokenizer=None):
    """Packs each task's byte ranges into its TFRecord file ``task["path"]``; returns their counters.

    A task holds ``index``, ``pieces``, ``path``, ``vocab_file``, ``max_seq_length``, ``seed``, ``cleaning``,
    ``blanks_separate_docs``. `report(num_bytes)` is called as input is read. `tokenizer` (anything with
    ``tokens`` and ``encode_lines``, as `LineTokenizer`) defaults to the vocab's `LineTokenizer`. One pipeline
    runs through all the tasks: blocks are read ahead and tokenized in helper threads while earlier ones
    are packed, across shard boundaries too.
    """
    tokenizer = tokenizer or _tokenizer(tasks[0]["vocab_file"])
    vocab = {token: index for index, token in enumerate(tokenizer.tokens)}
    special_ids = vocab[CLS_TOKEN], vocab[SEP_TOKEN], vocab[PAD_TOKEN]
    results, pending = [], collections.deque()

    def pack_next():
        shard, is_sentence, tokenized = pending.popleft()
        if tokenized is None:  # the shard's end
            results.append(shard.close())
        else:
            shard.write(is_sentence, tokenized.result())

    def ready():
        return pending and (len(pending) > _READ_AHEAD_BLOCKS or pending[0][2] is None or pending[0][2].done())

    with ThreadPoolExecutor(_TOKENIZER_THREADS) as tokenizing, contextlib.ExitStack() as open_shards:
        for task in tasks:
            shard = open_shards.enter_context(_ShardOutput(task, special_ids))
            for sentences, is_sentence in _shard_blocks(task["pieces"], task["cleaning"],
                                                        task["blanks_separate_docs"], shard.counters, report):
                pending.append((shard, is_sentence, tokenizing.submit(tokenizer.encode_lines, sentences)))
                while ready():
                    pack_next()
            pending.append((shard, None, None))
        while pending:
            pack_next()
    return results


# --- worker processes ----------------------------------------------------------------------------------------

_progress_queue = None


def _init_worker(queue, threads_per_worker):
    global _progress_queue
    _progress_queue = queue
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf.config.threading.set_intra_op_parallelism_threads(threads_per_worker)
    tf.config.threading.set_inter_op_parallelism_threads(threads_per_worker)


def _build_shard_in_worker(task):
    pending = [0]

    def report(num_bytes):
        pending[0] += num_bytes
        if pending[0] >= _READ_BLOCK_BYTES:
            _progress_queue.put(pending[0])
            pending[0] = 0

    result, = build_shards([task], report)
    _progress_queue.put(pending[0])
    return result


def worker_processes(num_workers, num_shards, total_bytes, cpu_count=None):
    """How many of at most `num_workers` processes pay off for `num_shards` shards of `total_bytes` input:
    one per shard, per `MIN_BYTES_PER_WORKER` of input and per two CPU cores, at most."""
    cores = cpu_count or os.cpu_count() or 1
    return max(1, min(num_workers, num_shards, total_bytes // max(1, MIN_BYTES_PER_WORKER), cores // 2))


def _run_tasks(tasks, num_workers, bar):
    """Runs `build_shards` over `tasks`, in this process or in `num_workers` spawned processes."""
    if num_workers <= 1 or len(tasks) <= 1:
        return build_shards(tasks, bar.update)
    import queue as queue_module

    context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
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
      num_workers: at most this many processes build shards in parallel (see `worker_processes`; the output
        does not depend on it).
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
    vocab_tokens = load_checked_vocab(os.fspath(vocab_file))  # a missing or invalid vocab fails before any work
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
            processes = worker_processes(num_workers, num_shards, total_bytes)
            results = _run_tasks(tasks, processes, bar)
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
        vocab_file=os.fspath(vocab_file), vocab_size=len(vocab_tokens), max_seq_length=int(max_seq_length),
        seed=int(seed), cleaning=cleaning, blanks_separate_docs=bool(blanks_separate_docs), num_shards=num_shards,
        worker_processes=processes,
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
    flags.DEFINE_integer("num_workers", 1, "At most this many parallel processes: one per two CPU cores and per "
                         "128 MiB of input (the output does not depend on it).", lower_bound=1)
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
