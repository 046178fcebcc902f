"""Builds ELECTRA pre-training TFRecord shards from a text corpus.

    python -m electra_tf.data.build_pretraining_data --input 'corpus/*.txt' --vocab vocab.txt \
        --output_dir gs://bucket/pretrain_data --max_seq_length 128 [--num_shards N] [--num_workers W] \
        [--seed S] [--cleaning none|koelectra|kcelectra] [--noblanks_separate_docs] [--heldout_shards K] \
        [--overwrite]

Input: one sentence per line (lines end at LF or CR LF), a blank line between documents (each file also ends a
document); with ``--noblanks_separate_docs`` blank lines are skipped and each file is one document. Lines are
NFC-normalized and cleaned with a preset of `electra_tf.text.normalize_text`, tokenized a block at a time by
the in-graph tokenizer of the vocabulary's kind, WordPiece or SentencePiece (`tokenization.LineTokenizer`; the
same ids as the host tokenizer and transformers), packed by `packing.ExampleBuilder` and serialized by
`example_records`. Output (`schema`):
``pretrain_data.tfrecord-SSSSS-of-NNNNN`` with int64 features ``input_ids``, ``input_mask``, ``segment_ids``
of length ``max_seq_length`` (readable by the original ELECTRA code), and ``stats.json``.

``stats.json`` holds ``token_counts`` (each id's real occurrences) and ``unigram_entropy`` (nats) of the tokens
that can be masked (all but [CLS]/[SEP]/[MASK]/[PAD]): pre-training's health metrics compare the generator's
[MASK] loss with it. They count the training shards only (what the model trains on).

Held-out shards: ``--heldout_shards K`` writes the last K of the ``num_shards`` shards (the end of the corpus, so
the split is fixed by the input and the shard count) to ``OUTPUT/heldout/`` instead, with their own
``stats.json``; the training glob of OUTPUT does not reach them, and ``stats.json``'s ``heldout`` names them
(files, examples). Pre-training without ``--eval_data_dir`` evaluates on them.

Modules: `shard_plan` (byte ranges per shard), `corpus_blocks` (reading and normalizing), `shard_pipeline`
(tokenizing, packing and writing, worker processes); this one checks the arguments, publishes the shards
and writes the statistics, and is the command line.

Sharding: the corpus (all files, in sorted glob order) is cut into `num_shards` contiguous byte ranges of about
equal size, each ending at a document boundary; shard ``s`` is packed from its range alone with a generator
seeded from ``(seed, s)``. Workers take whole shards, so the output depends on the seed and the number of
shards but not on `num_workers`. Everything is written to a sibling ``.NAME.incomplete-PID-RAND`` of the output
directory (never inside it) that replaces it only when complete (`io_utils.replace_directory`; other files in
it stay), so a killed build leaves the output as it was; the next build removes the killed one's leftovers.

Processes: one process already keeps two cores busy (it tokenizes in TensorFlow's threads while Python packs),
and a worker process costs about 3 s to start (it imports TensorFlow), so `num_workers` is a maximum: the
build uses one process per two CPU cores, per `shard_pipeline.MIN_BYTES_PER_WORKER` of input and per shard at
most, and records the number in ``stats.json`` as ``worker_processes``.

Deliberate deviations from google-research/electra ``build_pretraining_dataset.py``: shard count sized to
the corpus (``DEFAULT_BYTES_PER_SHARD`` of text per shard, at most 1000) instead of always 1000; each shard
holds consecutive documents (the original deals examples round-robin over its files), so readers must
shuffle (`pretraining_dataset` does); files are read in sorted order, not shuffled; the packing state
(target length, random generator) restarts at each shard; with ``--noblanks_separate_docs`` a shard cut
inside a file ends the example there, as a document boundary would. The tokenizer is the WordPiece of
`electra_tf.tokenization` with ``do_lower_case=False`` and no accent stripping (the original defaults to
lower-casing, which breaks Hangul).
"""

import os

import numpy as np
import tensorflow as tf
from absl import flags
from tqdm import tqdm

from electra_tf import cli, io_utils
from electra_tf.data import schema
from electra_tf.data.corpus_blocks import MAX_REPORTED_LOCATIONS
from electra_tf.data.packing import PackingStats
from electra_tf.data.shard_pipeline import ShardTask, run_tasks, worker_processes
from electra_tf.data.shard_plan import default_num_shards, plan_shards
from electra_tf.pretraining.metrics import entropy, unigram_from_counts
from electra_tf.tokenization.vocab_files import special_token_ids
from electra_tf.io_utils import expand_globs
from electra_tf.text import check_cleaning
from electra_tf.tokenization import (SENTENCEPIECE_FILES, TOKENIZER_FILES, load_checked_vocab, save_tokenizer_files,
                                     vocab_kind)


LEGACY_INCOMPLETE = ".incomplete-"  # partial work that earlier versions kept inside output_dir
OUR_FILES = {schema.STATS_FILE, schema.HELDOUT_DIR, *TOKENIZER_FILES, *SENTENCEPIECE_FILES}
# what the held-out directory's stats.json repeats of the main one (pre-training's check_shards reads them)
HELDOUT_STATS = ("vocab_file", "vocab_size", "vocab_sha256", "vocab_kind", "max_seq_length", "seed", "cleaning")


def _ours(name):
    """Whether `name` in an output directory is a file a build writes (or its leftover partial work)."""
    return name in OUR_FILES or name.startswith((schema.SHARD_PREFIX + "-", LEGACY_INCOMPLETE))


def _check_output_dir(output_dir, overwrite):
    names = [name.rstrip("/") for name in tf.io.gfile.listdir(output_dir)] if tf.io.gfile.isdir(output_dir) else []
    for name in names:
        if name.startswith(LEGACY_INCOMPLETE):
            tf.io.gfile.rmtree(os.path.join(output_dir, name))
    if any(not name.startswith(LEGACY_INCOMPLETE) for name in names) and not overwrite:
        raise FileExistsError(f"--output_dir {output_dir} is not empty; pass --overwrite to replace its shards")


def _merge_stats(results):
    merged, stats = {}, PackingStats()
    for result in results:
        stats += PackingStats(**{key: result[key] for key in vars(PackingStats())})
        for key in ("lines", "empty_lines", "lines_emptied_by_cleaning", "invalid_utf8_lines"):
            merged[key] = merged.get(key, 0) + result[key]
        merged.setdefault("invalid_utf8_locations", []).extend(result["invalid_utf8_locations"])
        counts = np.asarray(result["token_counts"], np.int64)
        merged["token_counts"] = counts if "token_counts" not in merged else merged["token_counts"] + counts
    merged["invalid_utf8_locations"] = merged["invalid_utf8_locations"][:MAX_REPORTED_LOCATIONS]
    merged.update(stats.as_dict())
    merged["token_counts"] = merged["token_counts"].tolist()
    return merged


def build_pretraining_data(inputs, vocab_file, output_dir, max_seq_length=128, num_shards=None, num_workers=1,
                           seed=0, cleaning="none", blanks_separate_docs=True, overwrite=False, progress=True,
                           heldout_shards=0):
    """Builds the shards and ``stats.json`` in `output_dir`; returns the statistics (also in stats.json).

    Args:
      inputs: a file, glob or list of them (local or ``gs://``), one sentence per line.
      vocab_file: the ``vocab.txt`` (or a directory holding it) of a WordPiece or SentencePiece vocabulary
        (its kind is read beside it and recorded as ``vocab_kind``).
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
      heldout_shards: the last this many shards go to ``OUTPUT/heldout/`` (held-out evaluation), not training;
        must be less than the number of shards.
    """
    check_cleaning(cleaning)
    if max_seq_length < 5:
        raise ValueError(f"max_seq_length={max_seq_length} must be at least 5")
    if num_workers < 1:
        raise ValueError(f"num_workers={num_workers} must be at least 1")
    if num_shards is not None and num_shards < 1:
        raise ValueError(f"num_shards={num_shards} must be at least 1")
    vocab_file = io_utils.existing_file(os.fspath(vocab_file), inside="vocab.txt")  # a model dir: its vocab.txt
    try:  # a missing or invalid vocab fails before any work
        vocab_tokens = load_checked_vocab(vocab_file)
        kind = vocab_kind(vocab_file)
    except ValueError as error:
        raise ValueError(f"--vocab: {error}") from error
    files = expand_globs(inputs)
    total_bytes = sum(tf.io.gfile.stat(path).length for path in files)
    if total_bytes == 0:
        raise ValueError(f"--input: Empty corpus: the input files {files} hold no text")
    _check_output_dir(output_dir, overwrite)
    num_shards = num_shards or default_num_shards(total_bytes)
    if not 0 <= heldout_shards < num_shards:
        raise ValueError(f"--heldout_shards={heldout_shards} must be at least 0 and less than the {num_shards} "
                         "shards (--num_shards)")
    plan = plan_shards(files, num_shards, blanks_separate_docs)
    first_heldout = num_shards - heldout_shards

    names = [schema.shard_name(index, num_shards) for index in range(num_shards)]
    with io_utils.partial_directory(output_dir) as temporary_dir:
        directories = [temporary_dir if index < first_heldout else os.path.join(temporary_dir, schema.HELDOUT_DIR)
                       for index in range(num_shards)]
        for directory in set(directories):
            tf.io.gfile.makedirs(directory)
        tasks = [ShardTask(index=index, pieces=pieces, path=os.path.join(directories[index], names[index]),
                           vocab_file=os.fspath(vocab_file), max_seq_length=int(max_seq_length), seed=int(seed),
                           cleaning=cleaning, blanks_separate_docs=bool(blanks_separate_docs))
                 for index, pieces in enumerate(plan)]
        with tqdm(total=total_bytes, unit="B", unit_scale=True, desc="building shards",
                  disable=not progress) as bar:
            processes = worker_processes(num_workers, num_shards, total_bytes)
            results = run_tasks(tasks, processes, bar.update)
        stats = _merge_stats(results[:first_heldout])
        if stats["examples"] == 0:
            raise ValueError(f"--input: Empty corpus: no tokens in the input files {files} "
                             f"({stats['lines']} lines, {stats['empty_lines']} blank)")
        stats.update(
            inputs=[inputs] if isinstance(inputs, str) else list(inputs), num_files=len(files),
            unigram_entropy=entropy(unigram_from_counts(stats["token_counts"], special_token_ids(vocab_tokens))),
            input_bytes=total_bytes, vocab_file=os.fspath(vocab_file), vocab_size=len(vocab_tokens),
            vocab_sha256=schema.vocab_sha256(os.fspath(vocab_file)), vocab_kind=kind,
            max_seq_length=int(max_seq_length), seed=int(seed), cleaning=cleaning,
            blanks_separate_docs=bool(blanks_separate_docs), num_shards=num_shards, worker_processes=processes,
            shards=[{"file": name, "examples": result["examples"], "input_bytes": task.input_bytes}
                    for name, result, task in zip(names, results, tasks)][:first_heldout])
        if heldout_shards:
            heldout = _merge_stats(results[first_heldout:])
            heldout.update({key: stats[key] for key in HELDOUT_STATS}, shards=[
                {"file": name, "examples": result["examples"]}
                for name, result in zip(names[first_heldout:], results[first_heldout:])])
            schema.write_stats(os.path.join(temporary_dir, schema.HELDOUT_DIR), heldout)
            stats["heldout"] = {"dir": schema.HELDOUT_DIR, "examples": heldout["examples"],
                                "shards": heldout["shards"]}
        save_tokenizer_files(vocab_file, temporary_dir)  # run_pretraining.py finds the vocabulary beside the shards
        schema.write_stats(temporary_dir, stats)
        # one swap publishes everything; files of output_dir that no build writes stay
        io_utils.replace_directory(temporary_dir, output_dir, keep=lambda name: not _ours(name))
    return stats


# --- command line -----------------------------------------------------------------------------------------------

def _define_flags():
    flags.DEFINE_multi_string("input", None, "Corpus file or glob (local or gs://); repeatable.", required=True)
    flags.DEFINE_string("vocab", None, "vocab.txt (WordPiece or SentencePiece; or a directory holding it).",
                        required=True)
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
    flags.DEFINE_integer("heldout_shards", 0, "Set the last this many shards aside in OUTPUT_DIR/heldout/ for "
                         "held-out evaluation (not trained on; pre-training without --eval_data_dir uses them).",
                         lower_bound=0)
    flags.DEFINE_bool("overwrite", False, "Replace the shards of a non-empty output_dir.")
    return flags.FLAGS


def main(argv):
    del argv
    flag_values = flags.FLAGS
    stats = build_pretraining_data(flag_values.input, flag_values.vocab, flag_values.output_dir, flag_values.max_seq_length,
                  flag_values.num_shards, flag_values.num_workers, flag_values.seed, flag_values.cleaning,
                  flag_values.blanks_separate_docs, flag_values.overwrite,
                  heldout_shards=flag_values.heldout_shards)
    print(f"{stats['examples']} examples from {stats['documents']} documents in {stats['num_shards']} shard(s) "
          f"→ {flag_values.output_dir} (padding {stats['padding_fraction']:.1%}, "
          f"{stats['truncated_tokens']} tokens truncated, {stats['invalid_utf8_lines']} invalid-UTF-8 lines)")
    if "heldout" in stats:
        print(f"{stats['heldout']['examples']} held-out examples in {len(stats['heldout']['shards'])} shard(s) "
              f"→ {os.path.join(flag_values.output_dir, schema.HELDOUT_DIR)} (not trained on)")


if __name__ == "__main__":
    _define_flags()
    cli.run(main)
