"""Every command ends a user error with exactly one ``error:`` line naming the flag or file, no traceback, and
exit status 2; ``--verbosity=1`` shows the traceback."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(ROOT, "data", "sample_vocab", "vocab.txt")
CORPUS = os.path.join(ROOT, "data", "sample_corpus.txt")
PRETRAIN_TINY = os.path.join(ROOT, "configs", "pretrain", "tiny.json")
FINETUNE_TINY = os.path.join(ROOT, "configs", "finetune", "tiny.json")


def _run(arguments, cwd=ROOT):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *arguments], cwd=cwd, env=env, capture_output=True, text=True,
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
                               lambda tmp: [f"{tmp}/no-vocab.txt"]),
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
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_user_error_is_one_line_naming_its_flag_or_file(case, tmp_path):
    arguments, named = CASES[case]
    line = _one_error_line(_run(arguments(tmp_path)))
    for text in named(tmp_path):
        assert text in line, line


def test_verbosity_shows_the_traceback(tmp_path):
    result = _run(["-m", "electra_tf.export", f"--input={tmp_path}/no-model", f"--output_dir={tmp_path}/o",
                   "--verbosity=1"])
    assert result.returncode != 0 and "Traceback" in result.stderr and f"{tmp_path}/no-model" in result.stderr
