"""kill -9 leaves no partial output: work in progress lives beside the output (``.NAME.incomplete-PID-RAND``),
the output is either as it was or complete, and the next run removes what a killed run left."""

import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from electra_tf import io_utils
from electra_tf.data.build_pretraining_data import build_pretraining_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
CORPUS = os.path.join(ROOT, "data", "sample_corpus.txt")


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _partials(root):
    return sorted(os.path.join(directory, name) for directory, dirs, files in os.walk(root)
                  for name in dirs + files if ".incomplete" in name or ".old-" in name)


def _tree(root):
    return {os.path.relpath(os.path.join(directory, name), root): open(os.path.join(directory, name), "rb").read()
            for directory, _, files in os.walk(root) for name in files}


def test_stale_partials_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    (tmp_path / f".out.incomplete-{dead}-0a0a0a0a").mkdir()
    (tmp_path / f".out.incomplete-{dead}-0a0a0a0a" / "shard").write_text("partial")
    (tmp_path / f".out.incomplete-{alive}-0b0b0b0b").mkdir()
    (tmp_path / f".other.incomplete-{dead}-0c0c0c0c").mkdir()  # another output's: not ours to remove
    (tmp_path / f".f.json.incomplete-{dead}-0d0d0d0d").write_text("{")
    with io_utils.atomic_directory(str(tmp_path / "out")) as directory:
        io_utils.write_json(os.path.join(directory, "done.json"), {"ok": True})
    io_utils.write_json(str(tmp_path / "f.json"), {})
    assert sorted(os.listdir(tmp_path)) == [f".other.incomplete-{dead}-0c0c0c0c", f".out.incomplete-{alive}-0b0b0b0b",
                                            "f.json", "out"]
    assert os.listdir(tmp_path / "out") == ["done.json"]


def test_an_earlier_directory_moved_aside_by_a_killed_swap_is_put_back(tmp_path):
    dead = _dead_pid()
    backup = tmp_path / f".out.old-{dead}-0a0a0a0a"
    backup.mkdir()
    (backup / "model.bin").write_text("earlier")
    assert io_utils.remove_stale_partials(str(tmp_path / "out")) == []
    assert sorted(os.listdir(tmp_path)) == ["out"] and (tmp_path / "out" / "model.bin").read_text() == "earlier"
    backup.mkdir()  # with `out` in place, a backup is an old copy to remove
    assert io_utils.remove_stale_partials(str(tmp_path / "out")) == [str(backup)]


def test_on_object_stores_a_rerun_takes_over_any_partial_work():
    base = "ram://leftovers-test"
    tf.io.gfile.makedirs(f"{base}/.out.incomplete-{os.getppid()}-0a0a0a0a/sub")
    with io_utils.atomic_directory(f"{base}/out") as directory:
        io_utils.write_json(f"{directory}/sub/a.json", [1])
    assert sorted(name.rstrip("/") for name in tf.io.gfile.listdir(base)) == ["out"]
    assert io_utils.read_json(f"{base}/out/sub/a.json") == [1]


def test_killed_directory_writer_leaves_the_earlier_output_and_the_next_run_cleans_up(tmp_path):
    output = tmp_path / "export"
    output.mkdir()
    (output / "config.json").write_text("earlier")
    code = ("import sys, time; from electra_tf import io_utils\n"
            "with io_utils.atomic_directory(sys.argv[1]) as d:\n"
            "    open(d + '/config.json', 'w').write('partial'); print('writing', flush=True); time.sleep(600)\n")
    process = subprocess.Popen([sys.executable, "-c", code, str(output)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (output / "config.json").read_text() == "earlier" and len(_partials(tmp_path)) == 1
    with io_utils.atomic_directory(str(output)) as directory:
        io_utils.write_json(os.path.join(directory, "config.json"), {})
    assert _partials(tmp_path) == [] and os.listdir(output) == ["config.json"]


def test_a_directory_swap_keeps_the_files_keep_accepts_at_any_depth(tmp_path):
    output = tmp_path / "out"
    (output / "sub").mkdir(parents=True)
    for name in ("ours.bin", "theirs.txt", "sub/ours.bin", "sub/theirs.txt"):
        (output / name).write_text("earlier")
    with io_utils.atomic_directory(str(output), keep=lambda relative: not relative.endswith("ours.bin")) as new:
        os.makedirs(os.path.join(new, "sub"))
        open(os.path.join(new, "sub", "new.bin"), "w").write("new")
    assert _tree(output) == {"theirs.txt": b"earlier", os.path.join("sub", "theirs.txt"): b"earlier",
                             os.path.join("sub", "new.bin"): b"new"}
    with io_utils.atomic_directory(str(output)) as new:  # without `keep` the new directory is all there is
        open(os.path.join(new, "only.txt"), "w").write("x")
    assert _tree(output) == {"only.txt": b"x"} and _partials(tmp_path) == []


def test_on_object_stores_a_directory_swap_keeps_the_files_keep_accepts():
    base = "ram://keep-test/out"
    for name in ("ours.bin", "sub/theirs.txt", "sub/ours.bin"):
        io_utils.write_json(f"{base}/{name}", name)
    with io_utils.atomic_directory(base, keep=lambda relative: not relative.endswith("ours.bin")) as new:
        io_utils.write_json(f"{new}/sub/new.bin", "new")
    assert io_utils._files(base) == ["sub/new.bin", "sub/theirs.txt"]
    assert io_utils.read_json(f"{base}/sub/theirs.txt") == "sub/theirs.txt"


def test_a_file_is_never_replaced_by_a_directory(tmp_path):
    (tmp_path / "notes").write_text("mine")
    with pytest.raises(NotADirectoryError, match="notes is a file"):
        with io_utils.atomic_directory(str(tmp_path / "notes")):
            pass
    with pytest.raises(NotADirectoryError, match="notes is a file"):  # the shard builder swaps directories too
        build_pretraining_data(CORPUS, VOCAB, str(tmp_path / "notes"), max_seq_length=64, progress=False)
    assert (tmp_path / "notes").read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["notes"]


def test_errors_about_the_temporary_sibling_name_the_output(tmp_path, monkeypatch):
    makedirs = tf.io.gfile.makedirs

    def refuse(path):  # as a read-only parent would, for the temporary sibling only
        if ".incomplete-" in path:
            raise tf.errors.PermissionDeniedError(None, None, f"{path}; Permission denied")
        makedirs(path)

    monkeypatch.setattr(tf.io.gfile, "makedirs", refuse)
    with pytest.raises(PermissionError) as raised:
        with io_utils.partial_directory(str(tmp_path / "out")):
            pass
    assert str(raised.value) == f"{tmp_path}/out: Permission denied" and raised.value.path == str(tmp_path / "out")


def _build_command(inputs, output, *extra):
    return [sys.executable, "-m", "electra_tf.data.build_pretraining_data", *(f"--input={path}" for path in inputs),
            f"--vocab={VOCAB}", f"--output_dir={output}", "--max_seq_length=64", "--num_shards=4", *extra]


@pytest.mark.slow
def test_killed_corpus_builder_leaves_the_output_as_it_was_and_the_next_run_succeeds(tmp_path):
    inputs = []
    for index in range(20):  # a corpus that takes the builder a few seconds
        inputs.append(str(tmp_path / f"part-{index:02d}.txt"))
        with open(CORPUS, "rb") as source, open(inputs[-1], "wb") as target:
            target.write(source.read())
    output = tmp_path / "shards"
    build_pretraining_data(inputs[:1], VOCAB, str(output), max_seq_length=64, num_shards=1, progress=False)
    (output / "NOTES.txt").write_text("not the builder's")
    before = _tree(output)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(_build_command(inputs, output, "--overwrite", "--seed=7"), cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not _partials(tmp_path):
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.time() < deadline
        time.sleep(0.01)
    time.sleep(0.5)  # let it write some shards
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert _tree(output) == before and _partials(tmp_path)
    done = subprocess.run(_build_command(inputs, output, "--overwrite", "--seed=7"), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _partials(tmp_path) == []
    names = sorted(os.listdir(output))
    assert names == ["NOTES.txt", *[f"pretrain_data.tfrecord-{i:05d}-of-00004" for i in range(4)],
                     "special_tokens_map.json", "stats.json", "tokenizer_config.json", "vocab.txt"]
    assert (output / "NOTES.txt").read_text() == "not the builder's"
