"""The shard pipeline: read → normalize → tokenize → pack → write, in this process or in worker processes.

One pipeline runs through a list of `ShardTask`s: blocks are read ahead and tokenized in helper threads
(`tokenization.LineTokenizer`, whose TensorFlow ops run outside the GIL) while earlier blocks are packed by
`packing.ExampleBuilder` and written by `example_records`, across shard boundaries too. A worker process
costs about 3 s to start (it imports TensorFlow) and one process already keeps two cores busy, so
`worker_processes` decides how many pay off.
"""

import collections
import contextlib
import dataclasses
import multiprocessing
import os
import queue as queue_module
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf

from electra_tf.data.corpus_blocks import LineCounters, shard_blocks
from electra_tf.data.example_records import serialize_examples
from electra_tf.data.packing import DOCUMENT_END, ExampleBuilder
from electra_tf.io_utils import READ_BLOCK_BYTES
from electra_tf.tokenization import LineTokenizer, special_token_ids

_READ_AHEAD_BLOCKS = 16  # blocks read and normalized while the tokenizer is busy
_TOKENIZER_THREADS = 2  # blocks tokenized at once (TensorFlow runs them in parallel, outside the GIL)
MIN_BYTES_PER_WORKER = 128 * 1024 * 1024  # below this share of the input, a process costs more than it saves


@dataclasses.dataclass(frozen=True)
class ShardTask:
    """The work of one shard: pack `pieces` (``(path, start, end)`` byte ranges) into the TFRecord `path`."""

    index: int
    pieces: list
    path: str
    vocab_file: str
    max_seq_length: int
    seed: int
    cleaning: str
    blanks_separate_docs: bool

    @property
    def input_bytes(self):
        return sum(end - start for _, start, end in self.pieces)


_TOKENIZERS = {}


def _tokenizer(vocab_file):
    """This process's `LineTokenizer` of `vocab_file` (built once)."""
    if vocab_file not in _TOKENIZERS:
        _TOKENIZERS[vocab_file] = LineTokenizer(vocab_file)
    return _TOKENIZERS[vocab_file]


class _ShardOutput:
    """One shard's packer and TFRecord writer (a context manager that closes the file on errors)."""

    def __init__(self, task, special_ids, vocab_size):
        """`special_ids`: `tokenization.special_token_ids` of the vocabulary; `vocab_size`: its length (the
        shard counts each token id's real occurrences, for the unigram entropy in stats.json)."""
        self.builder = ExampleBuilder(task.max_seq_length, special_ids["cls"], special_ids["sep"],
                                      special_ids["pad"], seed=f"electra_tf/{task.seed}/{task.index}")
        self.counters = LineCounters()
        self.token_counts = np.zeros(vocab_size, np.int64)
        self._writer = tf.io.TFRecordWriter(task.path)

    def write(self, is_sentence, tokenized):
        """Packs a tokenized block (see `corpus_blocks.stream_items`) and writes the examples it completes."""
        ids, sentence_lengths = tokenized
        lengths = np.full(len(is_sentence), DOCUMENT_END, np.int64)
        lengths[is_sentence] = sentence_lengths
        write = self._writer.write
        examples = self.builder.pack(ids, lengths)
        real = np.asarray(examples.input_mask) == 1
        self.token_counts += np.bincount(np.asarray(examples.input_ids)[real], minlength=len(self.token_counts))
        for record in serialize_examples(examples):
            write(record)

    def close(self):
        """Closes the file; returns the shard's counters."""
        self._writer.close()
        result = self.builder.stats.as_dict()
        result.update(self.counters.as_dict())
        result["token_counts"] = self.token_counts.tolist()
        return result

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self._writer.close()


def build_shards(tasks, report=lambda num_bytes: None, tokenizer=None):
    """Packs each `ShardTask`'s byte ranges into its TFRecord file; returns their counters (dicts).

    `report(num_bytes)` is called as input is read. `tokenizer` (anything with ``tokens`` and
    ``encode_lines``, as `LineTokenizer`) defaults to the vocab's `LineTokenizer`.
    """
    tokenizer = tokenizer or _tokenizer(tasks[0].vocab_file)
    special_ids = special_token_ids(tokenizer.tokens)
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
            shard = open_shards.enter_context(_ShardOutput(task, special_ids, len(tokenizer.tokens)))
            for sentences, is_sentence in shard_blocks(task.pieces, task.cleaning, task.blanks_separate_docs,
                                                       shard.counters, report):
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
        if pending[0] >= READ_BLOCK_BYTES:
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


def run_tasks(tasks, num_workers, report):
    """Runs `build_shards` over `tasks`, in this process or in `num_workers` spawned processes (each takes
    whole shards); returns the counters in task order. `report(num_bytes)` is called as input is read."""
    if num_workers <= 1 or len(tasks) <= 1:
        return build_shards(tasks, report)
    context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
    progress = context.Queue()
    threads = max(1, (os.cpu_count() or 1) // num_workers)
    with context.Pool(num_workers, initializer=_init_worker, initargs=(progress, threads)) as pool:
        pending = [pool.apply_async(_build_shard_in_worker, (task,)) for task in tasks]
        while not all(result.ready() for result in pending):
            try:
                report(progress.get(timeout=0.2))
            except queue_module.Empty:
                pass
            for result in pending:  # surface a worker's error at once
                if result.ready() and not result.successful():
                    result.get()
        results = [result.get() for result in pending]
        while not progress.empty():
            report(progress.get())
    return results
