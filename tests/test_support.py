"""The session fixtures of conftest.py: the fine-tuning vocab covers the fixture text, the tiny discriminator is
a complete transformers directory, a shared directory is built once and rebuilt after a failed build, and
`run_commands` runs a command as `python` would."""

import json
import os

import pytest
import support

from electra_tf.tokenization import FastTokenizer


def test_finetune_vocab_covers_fixture_text(finetune_vocab, init_checkpoint):
    tokenizer = FastTokenizer.from_vocab_file(finetune_vocab)
    ids = tokenizer.encode("세종대왕은 조선의 제4대 왕으로 1418년에 즉위하였다.")
    assert tokenizer.unk_id not in ids
    config = json.load(open(os.path.join(init_checkpoint, "config.json"), encoding="utf-8"))
    assert config["vocab_size"] == len(open(finetune_vocab, encoding="utf-8").read().splitlines())
    assert os.path.exists(os.path.join(init_checkpoint, "vocab.txt"))


def test_pretraining_shards_hold_the_sample_corpus(pretraining_shards):
    stats = json.load(open(os.path.join(pretraining_shards, "stats.json"), encoding="utf-8"))
    assert stats["max_seq_length"] == 64 and stats["examples"] > 0


def test_shared_directory_builds_once_and_again_after_a_failed_build(tmp_path_factory):
    calls = []

    def build(directory):
        calls.append(directory)
        if len(calls) == 1:
            open(os.path.join(directory, "half"), "w").close()
            raise OSError("killed mid-build")
        open(os.path.join(directory, "done"), "w").close()
        return os.path.join(directory, "done")

    with pytest.raises(OSError, match="killed mid-build"):
        support.shared_directory(tmp_path_factory, "once", build)
    path = support.shared_directory(tmp_path_factory, "once", build)
    assert support.shared_directory(tmp_path_factory, "once", build) == path
    assert len(calls) == 2 and os.path.exists(path)
    assert not os.path.exists(os.path.join(os.path.dirname(path), "half"))


PROBE = """
import json, os, sys, time
print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "path0": sys.path[0], "probe": os.environ.get("PROBE"),
                  "name": __name__}))
print("on stderr", file=sys.stderr)
ending = sys.argv[1]
if ending == "hang":
    time.sleep(600)
if ending == "raise":
    raise RuntimeError("a bug")
sys.exit({"none": None, "three": 3, "message": "a message"}[ending])
"""


def test_run_commands_runs_each_command_as_python_would(run_commands, tmp_path):
    """Exit statuses, separate stdout and stderr, argv, cwd, environment and sys.path[0] of a script and a module
    (`tests/scripts/forked_commands.py`), and a command that hangs is killed."""
    (tmp_path / "probe.py").write_text(PROBE, encoding="utf-8")
    commands = {ending: [str(tmp_path / "probe.py"), ending] for ending in ["none", "three", "message", "raise"]}
    commands["module"] = ["-m", "probe", "none", "--flag"]
    env = {**os.environ, "PROBE": "seen"}
    results = {**run_commands(commands, cwd=tmp_path, env=env),
               **run_commands({"hang": [str(tmp_path / "probe.py"), "hang"]}, cwd=tmp_path, env=env, timeout=2)}
    statuses = {key: result.returncode for key, result in results.items()}
    assert statuses == {"none": 0, "three": 3, "message": 1, "raise": 1, "hang": -9, "module": 0}
    for key, result in results.items():
        shown = json.loads(result.stdout)
        assert shown["cwd"] == str(tmp_path) and shown["probe"] == "seen" and shown["name"] == "__main__", key
        assert shown["path0"] == str(tmp_path), key
        assert result.stderr.startswith("on stderr\n"), (key, result.stderr)
    assert results["none"].stderr == "on stderr\n"
    assert json.loads(results["three"].stdout)["argv"] == [str(tmp_path / "probe.py"), "three"]
    assert json.loads(results["module"].stdout)["argv"] == [str(tmp_path / "probe.py"), "none", "--flag"]
    assert results["message"].stderr.endswith("a message\n")
    assert "Traceback" in results["raise"].stderr and "RuntimeError: a bug" in results["raise"].stderr
    assert "killed after 2 s" in results["hang"].stderr
