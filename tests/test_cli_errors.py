"""Every command ends a user error with exactly one ``error:`` line naming the flag or file, no traceback, and
exit status 2 (TensorFlow's start-up lines held back); ``--verbosity=1`` shows the traceback.

The commands run as forks of one process that has imported TensorFlow (the `run_commands` fixture), except
where a fork would hide what is checked: the start-up lines held back and ``--verbosity=1`` run fresh processes.
"""

import os
import subprocess
import sys
import textwrap

import pytest
from support import environment_without_tf_log_level

import electra_tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
CORPUS = os.path.join(ROOT, "data", "sample_corpus.txt")
PRETRAIN_TINY = os.path.join(ROOT, "configs", "pretrain", "tiny.json")
FINETUNE_TINY = os.path.join(ROOT, "configs", "finetune", "tiny.json")


def _run_fresh(arguments, env):
    """`python ARGUMENTS` in a process of its own (TensorFlow started there), for what a fork cannot show."""
    return subprocess.run([sys.executable, *arguments], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def _one_error_line(result):
    """The single ``error:`` line of a failed command (asserting there is exactly one and no traceback)."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert len(errors) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return errors[0]


CASES = {
    "prepare": (lambda tmp: ["-m", "electra_tf.prepare", f"--input={tmp}/missing-*.txt", f"--output={tmp}/o.txt"],
                lambda tmp: [f"{tmp}/missing-*.txt"]),
    "vocab": (lambda tmp: ["-m", "electra_tf.vocab", f"--input={CORPUS}", f"--output_dir={tmp}/v",
                           "--vocab_size=3"],
              lambda tmp: ["vocab_size=3"]),
    "build_pretraining_data": (lambda tmp: ["-m", "electra_tf.data.build_pretraining_data", f"--input={CORPUS}",
                                            f"--vocab={tmp}/no-vocab.txt", f"--output_dir={tmp}/shards"],
                               lambda tmp: [f"--vocab: {tmp}/no-vocab.txt"]),
    "export": (lambda tmp: ["-m", "electra_tf.export", f"--input={tmp}/no-model", f"--output_dir={tmp}/out"],
               lambda tmp: [f"{tmp}/no-model"]),
    "recipe": (lambda tmp: ["-m", "electra_tf.recipe", "--recipe=no-such-recipe", f"--input={CORPUS}",
                            f"--work_dir={tmp}/w"],
               lambda tmp: ["--recipe", "no-such-recipe"]),
    "serving": (lambda tmp: ["-m", "electra_tf.serving", f"--saved_model_dir={tmp}/none", "--text=안녕"],
                lambda tmp: [f"{tmp}/none"]),
    "run_pretraining.py --hparams": (
        lambda tmp: ["run_pretraining.py", f"--config={PRETRAIN_TINY}", f"--vocab={VOCAB}", f"--data_dir={tmp}",
                     f"--model_dir={tmp}/m", '--hparams={"no_such_setting": 1}'],
        lambda tmp: ["--hparams", "no_such_setting"]),
    "run_finetuning.py --hparams": (
        lambda tmp: ["run_finetuning.py", "--task=nsmc", f"--config={FINETUNE_TINY}", f"--init_checkpoint={tmp}",
                     f"--data_dir={tmp}", f"--output_dir={tmp}/f", "--hparams={not json"],
        lambda tmp: ["--hparams", "not valid JSON"]),
    "bad flag value": (lambda tmp: ["-m", "electra_tf.data.build_pretraining_data", f"--input={CORPUS}",
                                    f"--vocab={VOCAB}", f"--output_dir={tmp}/s", "--max_seq_length=2"],
                       lambda tmp: ["--max_seq_length"]),
    "missing flag": (lambda tmp: ["-m", "electra_tf.export", f"--input={tmp}"], lambda tmp: ["--output_dir"]),
    "stray argument": (lambda tmp: ["-m", "electra_tf.prepare", f"--input={CORPUS}", f"--output={tmp}/o.txt",
                                    "extra"],
                       lambda tmp: ["extra"]),
    "--input is a directory": (lambda tmp: ["-m", "electra_tf.prepare", f"--input={tmp}", f"--output={tmp}/o.txt"],
                               lambda tmp: [f"--input: '{tmp}' is a directory"]),
    "--merge_vocab directory without vocab.txt": (
        lambda tmp: ["-m", "electra_tf.vocab", f"--input={CORPUS}", f"--output_dir={tmp}/v", "--vocab_size=2000",
                     f"--merge_vocab={tmp}"],
        lambda tmp: [f"--merge_vocab: {tmp} is a directory without vocab.txt"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_user_error_is_one_line_naming_its_flag_or_file(case, run_commands, tmp_path):
    arguments, named = CASES[case]
    line = _one_error_line(run_commands({case: arguments(tmp_path)})[case])
    for text in named(tmp_path):
        assert text in line, line


def test_verbosity_shows_the_traceback(tmp_path):
    """A fresh process: ``--verbosity=1`` is read before the flags are parsed (by `electra_tf` on import too)."""
    result = _run_fresh(["-m", "electra_tf.export", f"--input={tmp_path}/no-model", f"--output_dir={tmp_path}/o",
                         "--verbosity=1"], {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode != 0 and "Traceback" in result.stderr and f"{tmp_path}/no-model" in result.stderr


def _read_only_directory(tmp_path):
    """A directory this process cannot create entries in (``/sys`` for root, which ignores permissions)."""
    if os.geteuid() != 0:
        directory = tmp_path / "read-only"
        directory.mkdir()
        directory.chmod(0o555)
        return str(directory)
    try:
        os.mkdir("/sys/electra-tf-probe")
    except OSError:
        return "/sys"
    os.rmdir("/sys/electra-tf-probe")
    pytest.skip("no read-only directory available to root here")


def test_an_unwritable_output_is_named_by_its_flag_not_the_temporary_path(run_commands, tmp_path):
    read_only = _read_only_directory(tmp_path)
    commands = {
        "--output": ["-m", "electra_tf.prepare", f"--input={CORPUS}", f"--output={read_only}/c.txt", "--noprogress"],
        "--output_dir": ["-m", "electra_tf.data.build_pretraining_data", f"--input={CORPUS}", f"--vocab={VOCAB}",
                         f"--output_dir={read_only}/shards"],
    }
    for flag, result in run_commands(commands).items():
        line = _one_error_line(result)
        assert line.startswith(f"error: {flag}: {read_only}/") and "incomplete" not in line, line


def _bad_flag_value_commands(tmp_path):
    """{name: arguments}: each command with one bad flag value (or, for fine-tuning, a missing model too)."""
    missing = str(tmp_path / "missing")
    return {
        "prepare": ["-m", "electra_tf.prepare", f"--input={CORPUS}", f"--output={tmp_path}/o.txt", "--cleaning=bogus"],
        "vocab": ["-m", "electra_tf.vocab", f"--input={CORPUS}", f"--output_dir={tmp_path}/v", "--vocab_size=2000",
                  "--pretokenizer=bogus"],
        "build_pretraining_data": ["-m", "electra_tf.data.build_pretraining_data", f"--input={CORPUS}",
                                   f"--vocab={VOCAB}", f"--output_dir={tmp_path}/s", "--max_seq_length=abc"],
        "pretraining": ["-m", "electra_tf.pretraining", f"--config={PRETRAIN_TINY}", f"--model_dir={tmp_path}/m",
                        "--export_only=maybe"],
        "finetuning": ["-m", "electra_tf.finetuning", "--task=nsmc", f"--config={FINETUNE_TINY}",
                       f"--init_checkpoint={missing}", f"--data_dir={missing}", f"--output_dir={tmp_path}/f",
                       "--skip_bad_rows=maybe"],
        # an error found after the strategy is built (the run's own log lines start only once inputs are read)
        "finetuning, missing model": ["-m", "electra_tf.finetuning", "--task=nsmc", f"--config={FINETUNE_TINY}",
                                      f"--init_checkpoint={missing}", f"--data_dir={missing}",
                                      f"--output_dir={tmp_path}/f2"],
        "export": ["-m", "electra_tf.export", f"--input={missing}", f"--output_dir={tmp_path}/e", "--format=onnx"],
        "parity": ["-m", "electra_tf.parity", f"--model_dir={missing}"],
        "serving": ["-m", "electra_tf.serving", f"--saved_model_dir={missing}", "--text=안녕"],
        "recipe": ["-m", "electra_tf.recipe", "--recipe=koelectra-small-v3", f"--input={CORPUS}",
                   f"--work_dir={tmp_path}/w", "--scale=huge"],
        "pipeline": ["-m", "electra_tf.pipeline", f"--work_dir={tmp_path}/d", "--hparams={not json"],
    }


def _assert_one_stderr_line(command, result):
    assert result.returncode == 2, (command, result.stderr[-3000:])
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (command, result.stderr[-3000:])


def test_every_command_prints_exactly_one_stderr_line_for_a_bad_flag_value(run_commands, tmp_path):
    """Without TF_CPP_MIN_LOG_LEVEL: nothing but the error line, from flag parsing to the strategy built."""
    commands = _bad_flag_value_commands(tmp_path)
    for command, result in run_commands(commands, env=environment_without_tf_log_level()).items():
        _assert_one_stderr_line(command, result)


def test_tensorflow_start_up_lines_are_held_back_in_a_fresh_process(tmp_path):
    """A fresh process without TF_CPP_MIN_LOG_LEVEL (the forks above import TensorFlow before they start): its
    start-up lines (different on each CPU) stay held back, also once the strategy is built."""
    command = "finetuning, missing model"
    result = _run_fresh(_bad_flag_value_commands(tmp_path)[command], environment_without_tf_log_level())
    _assert_one_stderr_line(command, result)


FAKE_TENSORFLOW = """
import os
os.write(2, b"C++ start-up line\\n")
if os.environ.get("FAIL_IMPORT"):
    raise ImportError("broken install")

class config:
    @staticmethod
    def list_physical_devices():
        os.write(2, b"device probe line\\n")
        return []
"""


@pytest.mark.parametrize("case", ["held", "--verbosity=1", "-v 1", "environment", "failed import"])
def test_tensorflow_start_up_output_is_held_back_unless_asked(case, tmp_path):
    """The mechanism, with a stand-in `tensorflow` that writes to fd 2 as the real one's C++ does."""
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(textwrap.dedent(FAKE_TENSORFLOW))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), ROOT])}
    env.pop(electra_tf.SHOW_STARTUP_ENV, None)
    arguments = {"--verbosity=1": ["--verbosity=1"], "-v 1": ["-v", "1"]}.get(case, [])
    if case == "environment":
        env[electra_tf.SHOW_STARTUP_ENV] = "1"
    if case == "failed import":
        env["FAIL_IMPORT"] = "1"
    code = "import electra_tf, sys; print(repr(electra_tf.TENSORFLOW_STARTUP_LOG))"
    result = subprocess.run([sys.executable, "-c", code, *arguments], env=env, capture_output=True, text=True,
                            timeout=120)
    if case == "held":
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert result.stdout.strip() == repr("C++ start-up line\ndevice probe line\n")
    elif case == "failed import":
        assert result.returncode == 1 and result.stderr.startswith("C++ start-up line\n")
        assert "broken install" in result.stderr
    else:
        assert result.returncode == 0 and result.stderr == "C++ start-up line\ndevice probe line\n", result.stderr


@pytest.mark.parametrize("argv, asked", [(["--verbosity=1"], True), (["--verbosity", "2"], True), (["-v=1"], True),
                                         (["--verbosity=0"], False), (["-v", "x"], False), (["--input=-v"], False),
                                         ([], False)])
def test_verbosity_is_read_from_the_command_line_before_flags_are_parsed(argv, asked):
    assert electra_tf._verbosity_asked(argv) is asked
