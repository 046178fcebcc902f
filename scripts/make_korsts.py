"""Copies KorSTS (sts-{train,dev,test}.tsv) out of a kakaobrain/KorNLUDatasets clone into a task directory.

    python scripts/make_korsts.py --kornlu_repo KORNLU_CLONE --out data_dir
    python -m electra_tf.finetuning --task korsts --data_dir data_dir ...

KORNLU_CLONE is a work tree holding KorSTS/ or a bare git directory (read with `git show`). Needs electra_tf
installed (`pip install -e .`, or PYTHONPATH set to the checkout).
"""

import argparse
import os
import subprocess
import sys

import tensorflow as tf

from electra_tf import io_utils

FILES = ("sts-train.tsv", "sts-dev.tsv", "sts-test.tsv")


def read_file(repo, name):
    """The text of KorSTS/`name` from a work tree or a git directory."""
    path = os.path.join(repo, "KorSTS", name)
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path, "r") as handle:
            return handle.read()
    shown = subprocess.run(["git", f"--git-dir={repo}", "show", f"HEAD:KorSTS/{name}"], capture_output=True)
    if shown.returncode != 0:
        raise FileNotFoundError(f"--kornlu_repo {repo}: no KorSTS/{name} ({shown.stderr.decode().strip()})")
    return shown.stdout.decode("utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kornlu_repo", required=True, help="KorNLUDatasets clone: a work tree or a git dir.")
    parser.add_argument("--out", required=True, help="Directory for sts-{train,dev,test}.tsv.")
    args = parser.parse_args(argv)
    try:
        texts = {name: read_file(args.kornlu_repo, name) for name in FILES}
    except FileNotFoundError as error:
        sys.exit(f"error: {error}")
    for name, text in texts.items():
        with io_utils.atomic_file(os.path.join(args.out, name)) as handle:
            handle.write(text)
        print(f"{name}: {text.count(chr(10)) - 1} pairs -> {args.out}")


if __name__ == "__main__":
    main()
