"""Corpus → TFRecord shards: round trip through the reader, worker-count independence, bad input."""

import os
import random

import numpy as np
import pytest
import tensorflow as tf

from electra_tf.data import shard_pipeline
from electra_tf.data.build_pretraining_data import build_pretraining_data
from electra_tf.data.shard_pipeline import worker_processes
from electra_tf.data.shard_plan import plan_shards
from electra_tf.data.example_records import serialize_examples
from electra_tf.data.packing import PackedExample
from electra_tf.data.pretraining_dataset import pretraining_dataset
from electra_tf.text import normalize_text
from electra_tf.tokenization import SPECIAL_TOKENS, LineTokenizer, load_vocab

SYLLABLES = "가나다라마바사아자차카타파하서울시는을를에서고했다민국의"
MAX_LENGTH = 32


def korean_sentence(rng, words=None):
    words = words or rng.randint(2, 9)
    text = " ".join("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(words))
    return text + rng.choice([".", "?", "!", ",다."])


def write_corpus(path, documents, seed=0, blank_lines=True):
    """`documents` documents of 1-8 sentences; returns them as lists of lines."""
    rng = random.Random(seed)
    docs = [[korean_sentence(rng) for _ in range(rng.randint(1, 8))] for _ in range(documents)]
    separator = "\n\n" if blank_lines else "\n"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(separator.join("\n".join(doc) for doc in docs) + "\n")
    return docs


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory):
    from tokenizers import BertWordPieceTokenizer

    directory = tmp_path_factory.mktemp("vocab")
    training = directory / "train.txt"
    write_corpus(training, 200, seed=99)
    trainer = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    trainer.train([str(training)], vocab_size=300, min_frequency=1, special_tokens=SPECIAL_TOKENS, show_progress=False)
    trainer.save_model(str(directory))
    return str(directory / "vocab.txt")


def decode(ids, tokens):
    """WordPiece ids → text without spaces ("##" pieces joined)."""
    return "".join(tokens[i][2:] if tokens[i].startswith("##") else tokens[i] for i in ids)


def match_sentences(segment, sentences, start):
    """Indices of `sentences[start:]` that make up `segment` in order (others are skipped: they went to the
    other segment); a remainder must be the truncated beginning of a sentence."""
    matched, position = [], 0
    for index in range(start, len(sentences)):
        if position == len(segment):
            break
        if segment.startswith(sentences[index], position) or sentences[index].startswith(segment[position:]):
            matched.append(index)
            position = min(len(segment), position + len(sentences[index]))
    assert position == len(segment), f"segment {segment!r} is not made of the document's sentences"
    return matched


def test_examples_read_back_decode_to_the_corpus(tmp_path, vocab_file):
    corpus = tmp_path / "corpus.txt"
    docs = write_corpus(corpus, 30, seed=1)
    stats = build_pretraining_data(str(corpus), vocab_file, str(tmp_path / "out"), MAX_LENGTH, num_shards=3,
                                   progress=False)
    tokens = load_vocab(vocab_file)
    cls_id, sep_id = tokens.index("[CLS]"), tokens.index("[SEP]")
    dataset = pretraining_dataset(str(tmp_path / "out" / "*.tfrecord*"), MAX_LENGTH, 1, is_training=False)
    rows = [{name: value.numpy()[0] for name, value in batch.items()} for batch in dataset]
    assert len(rows) == stats["examples"] > len(docs)
    assert sum(row["input_mask"].sum() for row in rows) == stats["tokens"]

    # Sentences as text without spaces; an example's sentences come from one document, in order.
    doc_sentences = [[normalize_text(line).replace(" ", "") for line in doc] for doc in docs]
    starts = {sentence: (d, i) for d, doc in enumerate(doc_sentences) for i, sentence in enumerate(doc)}
    used = []
    for row in rows:
        assert row["input_ids"].dtype == np.int32 and row["input_ids"].shape == (MAX_LENGTH,)
        length = int(row["input_mask"].sum())
        ids, segments = row["input_ids"][:length].tolist(), row["segment_ids"][:length].tolist()
        assert ids[0] == cls_id and ids[-1] == sep_id and not row["input_ids"][length:].any()
        seps = [i for i, token in enumerate(ids) if token == sep_id]
        assert segments == [0] * (seps[0] + 1) + [1] * (length - seps[0] - 1)
        assert len(seps) == (1 if seps[0] == length - 1 else 2)
        text_a, text_b = decode(ids[1:seps[0]], tokens), decode(ids[seps[0] + 1:-1], tokens)
        (doc, first), = [start for sentence, start in starts.items()
                         if text_a.startswith(sentence) or sentence.startswith(text_a)]
        matched = match_sentences(text_a, doc_sentences[doc], first)
        if text_b:
            matched += match_sentences(text_b, doc_sentences[doc], first + 1)
        used += [(doc, index) for index in matched]
    assert len(used) == len(set(used)), "a sentence was packed twice"
    assert len(used) >= 0.9 * sum(map(len, docs))


def read_shards(directory):
    names = sorted(name for name in os.listdir(directory) if ".tfrecord" in name)
    return {name: (directory / name).read_bytes() for name in names}


def test_output_identical_for_any_number_of_workers_and_seed_matters(tmp_path, vocab_file, monkeypatch):
    corpus = [tmp_path / "a.txt", tmp_path / "b.txt"]
    write_corpus(corpus[0], 60, seed=2)
    write_corpus(corpus[1], 40, seed=3)
    pattern = str(tmp_path / "*.txt")
    kwargs = dict(max_seq_length=MAX_LENGTH, num_shards=4, seed=5, progress=False)
    one = build_pretraining_data(pattern, vocab_file, str(tmp_path / "w1"), num_workers=1, **kwargs)
    monkeypatch.setattr(shard_pipeline, "MIN_BYTES_PER_WORKER", 1)  # a tiny corpus, yet two processes
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    two = build_pretraining_data(pattern, vocab_file, str(tmp_path / "w2"), num_workers=2, **kwargs)
    assert (one.pop("worker_processes"), two.pop("worker_processes")) == (1, 2)
    assert one == two
    shards = read_shards(tmp_path / "w1")
    assert len(shards) == 4 and all(shards.values())
    assert shards == read_shards(tmp_path / "w2")
    kwargs["seed"] = 6
    build_pretraining_data(pattern, vocab_file, str(tmp_path / "s6"), **kwargs)
    assert read_shards(tmp_path / "s6") != shards
    assert one["documents"] == 100 and one["shards"][0]["examples"] > 0


def test_plan_covers_corpus_and_cuts_after_blank_lines(tmp_path):
    files = [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    write_corpus(files[0], 25, seed=4)
    write_corpus(files[1], 3, seed=5)
    plan = plan_shards(files, 5)
    pieces = [piece for shard in plan for piece in shard]
    for path in files:
        ranges = [(start, end) for piece_path, start, end in pieces if piece_path == path]
        data = open(path, "rb").read()
        assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
        assert all(end == next_start for (_, end), (next_start, _) in zip(ranges, ranges[1:]))
        for _, end in ranges[:-1]:
            assert data[:end].endswith(b"\n\n"), "a shard must end at a document boundary"
    assert len(plan) == 5 and sum(1 for shard in plan if shard) >= 4


def test_without_blank_lines_each_file_is_one_document(tmp_path, vocab_file):
    for index in range(3):
        write_corpus(tmp_path / f"doc{index}.txt", 4, seed=index, blank_lines=False)
    (tmp_path / "doc0.txt").write_text("첫 문장이다.\n\n둘째 문장이다.\n", encoding="utf-8")  # blank skipped
    stats = build_pretraining_data(str(tmp_path / "doc*.txt"), vocab_file, str(tmp_path / "out"), MAX_LENGTH,
                                   num_shards=1, blanks_separate_docs=False, progress=False)
    assert stats["documents"] == 3 and stats["empty_lines"] == 1
    with_blanks = build_pretraining_data(str(tmp_path / "doc*.txt"), vocab_file, str(tmp_path / "out2"),
                                         MAX_LENGTH, num_shards=1, progress=False)
    assert with_blanks["documents"] == 4


def test_long_lines_invalid_utf8_and_cleaning_are_counted(tmp_path, vocab_file):
    long_line = " ".join(["가나다라"] * 3 * MAX_LENGTH)
    (tmp_path / "c.txt").write_bytes(("서울시는 했다.\n" + long_line + "\n\n\u200b\n").encode("utf-8")
                                     + b"\xff\xfe broken \xc3 line\n\xe2\x80\x8b\n\n\xed\x95\x9c")
    stats = build_pretraining_data(str(tmp_path / "c.txt"), vocab_file, str(tmp_path / "out"), MAX_LENGTH,
                                   cleaning="koelectra", progress=False)
    assert stats["long_sentences"] == 1 and stats["truncated_tokens"] >= 3 * MAX_LENGTH
    assert stats["invalid_utf8_lines"] == 1 and "c.txt (byte" in stats["invalid_utf8_locations"][0]
    assert stats["lines_emptied_by_cleaning"] == 2  # the zero-width-space lines
    assert stats["lines"] == 8 and stats["empty_lines"] == 2 and stats["documents"] == 3
    assert stats["num_shards"] == 1 and stats["examples"] >= 3


def test_bad_input_gives_clear_errors(tmp_path, vocab_file):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Empty corpus.*empty.txt"):
        build_pretraining_data(str(empty), vocab_file, str(tmp_path / "out"), MAX_LENGTH, progress=False)
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")
    (tmp_path / "zero.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="Empty corpus"):
        build_pretraining_data(str(tmp_path / "zero.txt"), vocab_file, str(tmp_path / "out"), progress=False)
    corpus = tmp_path / "corpus.txt"
    write_corpus(corpus, 3)
    with pytest.raises(FileNotFoundError, match="missing_vocab.txt"):
        build_pretraining_data(str(corpus), str(tmp_path / "missing_vocab.txt"), str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError, match="nothing-\\*.txt"):
        build_pretraining_data(str(tmp_path / "nothing-*.txt"), vocab_file, str(tmp_path / "out"))


def test_non_empty_output_needs_overwrite_and_old_shards_are_replaced(tmp_path, vocab_file):
    corpus = tmp_path / "corpus.txt"
    write_corpus(corpus, 40)
    output = tmp_path / "out"
    build_pretraining_data(str(corpus), vocab_file, str(output), MAX_LENGTH, num_shards=3, progress=False)
    before = read_shards(output)
    with pytest.raises(FileExistsError, match="--overwrite"):
        build_pretraining_data(str(corpus), vocab_file, str(output), MAX_LENGTH, num_shards=2, progress=False)
    assert read_shards(output) == before
    stats = build_pretraining_data(str(corpus), vocab_file, str(output), MAX_LENGTH, num_shards=2, overwrite=True,
                                   progress=False)
    assert sorted(read_shards(output)) == ["pretrain_data.tfrecord-00000-of-00002",
                                           "pretrain_data.tfrecord-00001-of-00002"]
    tokenizer_files = ["special_tokens_map.json", "tokenizer_config.json", "vocab.txt"]  # beside the shards
    assert sorted(os.listdir(output)) == sorted([*read_shards(output), "stats.json", *tokenizer_files])  # no temporary
    assert (output / "vocab.txt").read_text(encoding="utf-8") == open(vocab_file, encoding="utf-8").read()
    count = sum(1 for _ in tf.data.TFRecordDataset([str(output / name) for name in read_shards(output)]))
    assert count == stats["examples"] == sum(shard["examples"] for shard in stats["shards"])


def test_records_match_tf_example_serialization():
    rng = np.random.default_rng(0)
    for length in (5, MAX_LENGTH, 300):
        values = np.array([0, 5, 127, 128, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28, 2 ** 31 - 1])
        for bound in (2 ** 7, 2 ** 14, 2 ** 31):  # one-, two- and up to five-byte varints
            examples = PackedExample(rng.choice(values[values < bound], size=(6, length)),
                                     rng.integers(0, 2, size=(6, length)), rng.integers(0, 2, size=(6, length)))
            for row, record in enumerate(serialize_examples(examples)):
                reference = tf.train.Example(features=tf.train.Features(feature={
                    name: tf.train.Feature(int64_list=tf.train.Int64List(value=column[row].tolist()))
                    for name, column in zip(examples._fields, examples)}))
                assert record == reference.SerializeToString(deterministic=True)
    with pytest.raises(ValueError, match="input_mask"):
        serialize_examples(PackedExample(np.zeros([1, 5]), np.full([1, 5], 2), np.zeros([1, 5])))


def test_line_tokenizer_matches_fast_tokenizer(vocab_file):
    from electra_tf.tokenization import FastTokenizer

    texts = ["서울시는  했다.", " 가나\t다라 ", "마\u00a0바 [SEP]사", "하\x1c서 울\u0301 시", "가" * 120 + " 나",
             "e\u0301 \u0301가", "漢字 가나", "", "\u200b", "서울시는 했다. 서울시는 했다!"]
    ids, lengths = LineTokenizer(vocab_file).encode_lines(texts)
    expected = FastTokenizer.from_vocab_file(vocab_file).encode_batch(texts)
    assert lengths.tolist() == [len(line_ids) for line_ids in expected]
    assert ids.tolist() == [token for line_ids in expected for token in line_ids]


def test_worker_processes_pay_off_only_for_large_inputs():
    megabyte = 1024 * 1024
    assert worker_processes(2, 6, 50 * megabyte, cpu_count=16) == 1
    assert worker_processes(2, 40, 300 * megabyte, cpu_count=16) == 2
    assert worker_processes(2, 40, 300 * megabyte, cpu_count=2) == 1  # one process already uses both cores
    assert worker_processes(8, 3, 10 ** 12, cpu_count=96) == 3 and worker_processes(1, 100, 10 ** 12, 96) == 1


def _records(directory):
    files = sorted(tf.io.gfile.glob(os.path.join(directory, "*.tfrecord*")))
    return [record.numpy() for record in tf.data.TFRecordDataset(files)]


def test_heldout_shards_are_set_aside_deterministically_and_not_counted(tmp_path, vocab_file):
    from electra_tf.data import schema
    from electra_tf.data.pretraining_dataset import parse_examples

    corpus = tmp_path / "corpus.txt"
    write_corpus(corpus, 60, seed=4)
    kwargs = dict(max_seq_length=MAX_LENGTH, num_shards=4, progress=False, heldout_shards=1)
    stats = build_pretraining_data(str(corpus), vocab_file, str(tmp_path / "a"), **kwargs)
    build_pretraining_data(str(corpus), vocab_file, str(tmp_path / "b"), **kwargs)
    heldout = schema.heldout_dir(str(tmp_path / "a"))
    assert heldout == str(tmp_path / "a" / "heldout")
    assert read_shards(tmp_path / "a" / "heldout") == read_shards(tmp_path / "b" / "heldout")  # deterministic
    assert list(read_shards(tmp_path / "a")) == [schema.shard_name(index, 4) for index in range(3)]
    train, held = _records(str(tmp_path / "a")), _records(heldout)  # the training glob misses heldout/
    assert held and not set(train) & set(held)
    assert stats["heldout"]["shards"] == [{"file": schema.shard_name(3, 4), "examples": len(held)}]
    assert stats["examples"] == len(train) and schema.read_stats(heldout)["examples"] == len(held)
    counts = np.zeros(stats["vocab_size"], np.int64)  # token_counts describe the training records only
    for batch in tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(os.path.join(str(tmp_path / "a"), "*.tfrecord*")))
                                         ).batch(256).map(lambda records: parse_examples(records, MAX_LENGTH)):
        counts += np.bincount(batch["input_ids"].numpy()[batch["input_mask"].numpy() == 1], minlength=len(counts))
    np.testing.assert_array_equal(stats["token_counts"], counts)
    assert schema.heldout_dir(str(tmp_path / "none")) is None
    with pytest.raises(ValueError, match="--heldout_shards=4"):
        build_pretraining_data(str(corpus), vocab_file, str(tmp_path / "c"), **dict(kwargs, heldout_shards=4))
