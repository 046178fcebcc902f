"""The corpus preparation stage (electra_tf.prepare)."""

import json
import os
import random

import numpy as np
import pytest

from electra_tf import prepare
from electra_tf.prepare import STATS_SUFFIX, HashSet, prepare_corpus
from electra_tf.text import normalize_text

_PIECES = ["진짜", "배우", "연기", "최고", "ㅋㅋㅋㅋㅋ", "😂", "👍🏻", "https://x.kr/a", "www.y.com", "漢字", "ok", "!!!!", "기사"]


def _write_corpus(directory, files=3, documents=6, seed=0):
    """Files of documents (blank-line separated) with repeated, short, emptied and NFD lines."""
    rng = random.Random(seed)
    paths = []
    for file_index in range(files):
        lines = []
        for _ in range(documents):
            for _ in range(rng.randint(1, 12)):
                kind = rng.random()
                if kind < 0.15:
                    lines.append(rng.choice(["😂😂", "★", "   ", "\u200b"]))  # empty after kcelectra cleaning
                elif kind < 0.3:
                    lines.append(rng.choice(["짧다", "ㅋㅋ", "ok"]))  # short
                elif kind < 0.45:
                    lines.append("반복되는 댓글입니다 ㅋㅋㅋㅋ")  # duplicate across files
                else:
                    lines.append(" ".join(rng.choice(_PIECES) for _ in range(rng.randint(2, 8))))
            lines.extend([""] * rng.randint(1, 2))
        path = directory / f"part-{file_index}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def _reference(paths, cleaning, min_chars, dedupe, blanks_separate_docs):
    """The expected documents, computed the simplest way (whole strings in a set)."""
    documents, seen = [], set()
    for path in paths:
        current = []
        for line in path.read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                if blanks_separate_docs and current:
                    documents.append(current)
                    current = []
                continue
            text = normalize_text(line, cleaning)
            if not text or len(text) < min_chars or (dedupe and text in seen):
                continue
            seen.add(text)
            current.append(text)
        if current:
            documents.append(current)
    return documents


@pytest.mark.parametrize("cleaning, min_chars, dedupe, blanks", [
    ("kcelectra", 10, True, True), ("none", 0, False, True), ("koelectra", 3, True, False)])
def test_output_matches_reference(tmp_path, cleaning, min_chars, dedupe, blanks):
    paths = _write_corpus(tmp_path)
    output = tmp_path / "out" / "clean.txt"
    stats = prepare_corpus(str(tmp_path / "part-*.txt"), str(output), cleaning, min_chars, dedupe, blanks,
                           num_workers=1, progress=False)
    documents = _reference(paths, cleaning, min_chars, dedupe, blanks)
    assert output.read_text(encoding="utf-8") == "\n\n".join("\n".join(doc) for doc in documents) + "\n"
    written = json.loads((tmp_path / "out" / ("clean.txt" + STATS_SUFFIX)).read_text())
    assert written == stats
    assert stats["documents"] == len(documents) and stats["lines_out"] == sum(map(len, documents))
    assert stats["lines_in"] == (stats["lines_out"] + stats["removed_empty"] + stats["removed_short"]
                                 + stats["removed_duplicate"])
    assert stats["bytes_out"] == output.stat().st_size
    if cleaning == "kcelectra":
        assert min(stats["removed_empty"], stats["removed_short"], stats["removed_duplicate"]) > 5
        assert all(len(line) >= 10 for doc in documents for line in doc)
    if not dedupe:
        assert stats["removed_duplicate"] == 0


def test_output_is_the_same_for_any_worker_count(tmp_path, monkeypatch):
    _write_corpus(tmp_path, files=4, documents=30, seed=3)
    monkeypatch.setattr(prepare, "_BATCH_LINES", 37)  # many batches, cut mid-document
    outputs, stats = [], []
    for workers in (1, 2, 3):
        output = tmp_path / f"out-{workers}.txt"
        stats.append(prepare_corpus(str(tmp_path / "part-*.txt"), str(output), "kcelectra", 10, True,
                                    num_workers=workers, progress=False))
        outputs.append(output.read_bytes())
    assert [s["worker_processes"] for s in stats] == [1, 2, 3]
    assert outputs[0] == outputs[1] == outputs[2] and len(outputs[0]) > 1000
    ignored = ("output", "seconds", "worker_processes")
    assert all({k: v for k, v in s.items() if k not in ignored} == {k: v for k, v in stats[0].items()
                                                                    if k not in ignored} for s in stats)


def test_invalid_utf8_and_nfd_are_counted_and_normalized(tmp_path):
    import unicodedata

    path = tmp_path / "in.txt"
    path.write_bytes("첫째 줄입니다\n".encode() + b"\xff broken line here\n"
                     + unicodedata.normalize("NFD", "넷째 줄입니다").encode() + b"\n")
    stats = prepare_corpus(str(path), str(tmp_path / "out.txt"), progress=False, num_workers=1)
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == "첫째 줄입니다\n\ufffd broken line here\n넷째 줄입니다\n"
    assert stats["invalid_utf8_lines"] == 1 and stats["invalid_utf8_locations"] == [f"{path}:2"]


def test_failed_run_keeps_earlier_output_and_a_stray_temporary_does_not_block(tmp_path, monkeypatch):
    _write_corpus(tmp_path, files=1)
    output = tmp_path / "clean.txt"
    prepare_corpus(str(tmp_path / "part-*.txt"), str(output), "kcelectra", progress=False, num_workers=1)
    before = output.read_bytes()
    (tmp_path / ".clean.txt.tmp-deadbeef").write_text("left by a killed run")

    def broken(*args):
        raise RuntimeError("worker crashed")

    monkeypatch.setattr(prepare, "clean_batch", broken)
    with pytest.raises(RuntimeError, match="worker crashed"):
        prepare_corpus(str(tmp_path / "part-*.txt"), str(output), "koelectra", progress=False, num_workers=1)
    assert output.read_bytes() == before
    monkeypatch.undo()
    prepare_corpus(str(tmp_path / "part-*.txt"), str(output), "koelectra", progress=False, num_workers=1)
    assert output.read_bytes() != before
    assert sorted(os.listdir(tmp_path)) == [".clean.txt.tmp-deadbeef", "clean.txt", "clean.txt.stats.json",
                                            "part-0.txt"]


def test_bad_inputs_are_clear_errors(tmp_path):
    (tmp_path / "a.txt").write_text("가나다\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        prepare_corpus(str(tmp_path / "nothing-here*.txt"), str(tmp_path / "o.txt"), progress=False)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        prepare_corpus(str(tmp_path / "a.txt"), str(tmp_path), progress=False)
    with pytest.raises(ValueError, match="also one of the --input"):
        prepare_corpus(str(tmp_path / "*.txt"), str(tmp_path / "a.txt"), progress=False)
    with pytest.raises(ValueError, match="--min_chars=-1"):
        prepare_corpus(str(tmp_path / "a.txt"), str(tmp_path / "o.txt"), min_chars=-1, progress=False)
    with pytest.raises(ValueError, match="cleaning='x'"):
        prepare_corpus(str(tmp_path / "a.txt"), str(tmp_path / "o.txt"), cleaning="x", progress=False)
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


def test_an_empty_input_gives_an_empty_corpus_and_nothing_else(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    stats = prepare_corpus(str(tmp_path / "empty.txt"), str(tmp_path / "out" / "c.txt"), progress=False)
    assert (tmp_path / "out" / "c.txt").read_bytes() == b""
    assert stats["lines_in"] == stats["lines_out"] == stats["documents"] == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["c.txt", "c.txt" + STATS_SUFFIX]  # no temporary file left


def test_an_output_under_a_file_names_the_output(tmp_path):
    (tmp_path / "a.txt").write_text("가나다\n", encoding="utf-8")
    with pytest.raises(NotADirectoryError, match=f"cannot create {tmp_path}/a.txt/o.txt: .*not a directory"):
        prepare_corpus(str(tmp_path / "a.txt"), str(tmp_path / "a.txt" / "o.txt"), progress=False)
    assert os.listdir(tmp_path) == ["a.txt"]


def test_command_line_success_and_one_error_line(run_commands, tmp_path):
    _write_corpus(tmp_path, files=2)
    command = ["-m", "electra_tf.prepare", "--input", str(tmp_path / "part-0.txt"), "--input",
               str(tmp_path / "part-1.txt"), "--output", str(tmp_path / "c.txt"), "--cleaning", "kcelectra",
               "--min_chars", "10", "--dedupe", "--noprogress", "--num_workers", "2"]
    missing = command[:3] + [str(tmp_path / "missing-*.txt"), "--output", str(tmp_path / "d.txt")]
    results = run_commands({"done": command, "failed": missing})
    done, failed = results["done"], results["failed"]
    assert done.returncode == 0, done.stderr
    stats = json.loads((tmp_path / "c.txt.stats.json").read_text())
    assert stats["dedupe"] and stats["min_chars"] == 10 and stats["worker_processes"] == 2
    assert f"{stats['lines_out']} of {stats['lines_in']} lines" in done.stdout
    # exactly one line on stderr (that TensorFlow's start-up lines are held back in a fresh process: test_cli_errors)
    assert failed.returncode == 2 and failed.stderr.splitlines() == [
        f"error: --input: No file matches input pattern '{tmp_path}/missing-*.txt'"]


def test_hash_set_matches_a_python_set_across_merges():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 2**64 - 1, size=400, dtype=np.uint64, endpoint=True)
    stream = rng.choice(values, size=3000)  # many repeats
    stream[:3] = [0, 2**64 - 1, 0]  # the extremes of the range
    hashes, reference = HashSet(recent_limit=7), set()
    for start in range(0, len(stream), 53):
        batch = stream[start:start + 53]
        expected = []
        for value in batch.tolist():
            expected.append(value not in reference)
            reference.add(value)
        assert hashes.add_new(batch).tolist() == expected
    assert len(hashes) == len(reference) and len(hashes._sorted) > len(reference) - 7
    assert np.all(np.diff(hashes._sorted.astype(object)) > 0)
