"""Prints, as one JSON object, the flags each command accepts, read from its real ``--helpfull`` output.

    PYTHONPATH=. python tests/scripts/command_flags.py electra_tf.prepare run_pretraining.py ...

A command is a module (run as ``python -m MODULE``) or a script path (``run_pretraining.py``). TensorFlow is
imported once here; each command then runs ``--helpfull`` in a fork of this process, so the commands' absl flags
never collide (each child has its own flag registry) and only the first import of TensorFlow costs ~10 s.
Output: ``{command: {"flags": {name: is_boolean}, "output": text-if-no-flags-were-found}}``.
"""

import json
import os
import re
import runpy
import signal
import sys
import tempfile
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow  # noqa: E402,F401  (the expensive import, shared by every fork)
from absl import flags  # noqa: E402,F401

# absl's help lists each flag as "  --name: help", "  -v,--name: help" or, for a boolean, "  --[no]name: help".
FLAG_LINE = re.compile(r"^\s+(?:-\S,)?--(\[no\])?([A-Za-z0-9_][\w-]*):", re.MULTILINE)
TIMEOUT_S = 300  # seconds for all the forks together


def _child(command, out_path):
    """Runs `command --helpfull` with stdout and stderr going to `out_path`; never returns."""
    status = 0
    try:
        fd = os.open(out_path, os.O_WRONLY | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.argv = [command, "--helpfull"]
        if command.endswith(".py"):
            runpy.run_path(command, run_name="__main__")
        else:
            runpy.run_module(command, run_name="__main__", alter_sys=True)
    except SystemExit:
        pass  # absl exits after printing the help
    except BaseException:  # a module that cannot be imported: the parent reports the traceback
        traceback.print_exc()
        status = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def parse_flags(help_text):
    """{flag name: is_boolean} from absl's ``--helpfull`` text (the docstring's own examples are not matched)."""
    return {match.group(2): bool(match.group(1)) for match in FLAG_LINE.finditer(help_text)}


def command_flags(commands):
    """{command: {"flags": ..., "output": ...}}, every command's --helpfull run concurrently in its own fork."""
    children = {}
    with tempfile.TemporaryDirectory() as tmp:
        for index, command in enumerate(commands):
            out_path = os.path.join(tmp, f"{index}.txt")
            open(out_path, "w").close()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(command, out_path)
            children[pid] = (command, out_path)
        deadline = time.monotonic() + TIMEOUT_S
        running = set(children)
        while running and time.monotonic() < deadline:
            running = {pid for pid in running if os.waitpid(pid, os.WNOHANG) == (0, 0)}
            time.sleep(0.1)
        for pid in running:  # a child that hangs (e.g. a module that blocks on import) is killed and reported
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        results = {}
        for pid, (command, out_path) in children.items():
            with open(out_path, encoding="utf-8", errors="replace") as handle:
                text = handle.read() + (f"\n(killed after {TIMEOUT_S} s)" if pid in running else "")
            found = parse_flags(text)
            results[command] = {"flags": found, "output": "" if found else text[-4000:]}
    return results


if __name__ == "__main__":
    print(json.dumps(command_flags(sys.argv[1:])))
