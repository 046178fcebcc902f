"""Runs `python ARGS` commands as forks of one process that has imported TensorFlow, so that each costs a fork
instead of a fresh interpreter's ~5.5 CPU-seconds of TensorFlow start-up (`tests/support.py`'s `CommandRunner`
drives it; the tests use it through the `run_commands` fixture).

    python tests/scripts/forked_commands.py < requests > responses

Each request is one JSON line ``{"commands": {key: args}, "cwd": DIR, "env": {NAME: VALUE}, "timeout": S}``, where
`args` is what would follow ``python``: ``["-m", MODULE, ...]`` or ``[SCRIPT.py, ...]``. Every command runs in its
own fork (at most `os.cpu_count()` at once), with `cwd`, `env` as its whole `os.environ`, ``sys.argv`` and
``sys.path[0]`` as Python would set them, stdin from /dev/null and stdout/stderr to files of its own. The answer is
one JSON line ``{key: {"returncode": N, "stdout": TEXT, "stderr": TEXT}}`` (a negative returncode: killed by that
signal; a command still running after `timeout` seconds is killed with its process group). The process ends at
the end of its input.

What a fork shares with this process, so what these results cannot show: `electra_tf` (this checkout's, with
TensorFlow, its start-up lines held back, and its device probe) was imported here before the command ran, with
no GPU visible (a fork cannot use CUDA initialised before it) and TensorFlow's C++ reading its settings from
this process's environment; and Python's exit (atexit handlers, joining non-daemon threads) is skipped in the
child. The command's own module is imported only in the fork, so its absl flags are defined in a fresh registry
every time.
"""

import contextlib
import json
import os
import runpy
import signal
import sys
import tempfile
import time
import traceback

RESPONSES = os.fdopen(os.dup(1), "w", encoding="utf-8")  # the answers; fd 1 itself now only reaches stderr,
os.dup2(2, 1)                                            # so nothing printed by an import corrupts them

os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CUDA does not survive a fork: no fork may use a GPU probed here
sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's
import electra_tf  # noqa: E402,F401  (TensorFlow's start-up, lines held back and devices probed, shared by every fork)


def _exit_status(done):
    """The status Python exits with for `SystemExit(done.code)` (a message is printed, as Python does)."""
    if done.code is None:
        return 0
    if isinstance(done.code, int):
        return done.code & 0xFF
    print(done.code, file=sys.stderr)
    return 1


def _run_as_python(args, cwd):
    """Runs `python ARGS` in this process the way the interpreter would; returns its exit status."""
    try:
        if args[0] == "-m":
            sys.argv = [args[1], *args[2:]]  # runpy replaces argv[0] with the module's file, as `-m` does
            sys.path[0] = cwd
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(args)
            sys.path[0] = os.path.dirname(os.path.abspath(args[0]))
            runpy.run_path(args[0], run_name="__main__")
    except SystemExit as done:
        return _exit_status(done)
    except BaseException:  # noqa: BLE001  (an uncaught error: Python prints its traceback and exits 1)
        sys.excepthook(*sys.exc_info())
        return 1
    return 0


def _child(args, cwd, env, stdout_path, stderr_path):
    """The forked command: its own process group, stdio and environment; never returns."""
    status = 1
    try:
        os.close(RESPONSES.fileno())  # only this process answers (and the client sees the end when it ends)
        os.setpgid(0, 0)
        for fd, path, mode in ((0, os.devnull, os.O_RDONLY), (1, stdout_path, os.O_WRONLY),
                               (2, stderr_path, os.O_WRONLY)):
            opened = os.open(path, mode)
            os.dup2(opened, fd)
            os.close(opened)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        status = _run_as_python(args, cwd)
    except BaseException:  # noqa: BLE001  (the set-up failed: report it as the command's error)
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


def _start(args, cwd, env, directory, index):
    paths = [os.path.join(directory, f"{index}.{name}") for name in ("stdout", "stderr")]
    for path in paths:
        open(path, "w").close()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(args, cwd, env, *paths)
    with contextlib.suppress(OSError):  # also here, so the group exists before any kill (unless the child ended)
        os.setpgid(pid, pid)
    return pid, paths


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def run_commands(commands, cwd, env, timeout):
    """``{key: {"returncode", "stdout", "stderr"}}`` of ``{key: args}``, run in forks (see the module docstring)."""
    waiting = list(commands.items())
    running, results = {}, {}
    with tempfile.TemporaryDirectory() as directory:
        while waiting or running:
            while waiting and len(running) < (os.cpu_count() or 1):
                key, args = waiting.pop(0)
                pid, paths = _start(args, cwd, env, directory, len(results) + len(running))
                running[pid] = (key, paths, time.monotonic() + timeout)
            time.sleep(0.02)
            for pid, (key, paths, deadline) in list(running.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                killed = not done and time.monotonic() > deadline
                if killed:  # a command that hangs: it and what it started are killed, and that is reported
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                    done, status = os.waitpid(pid, 0)
                if done:
                    del running[pid]
                    stderr = _read(paths[1]) + (f"\n(killed after {timeout} s)\n" if killed else "")
                    results[key] = {"returncode": os.waitstatus_to_exitcode(status), "stdout": _read(paths[0]),
                                    "stderr": stderr}
    return results


def serve(requests, responses):
    """Answers each JSON line of `requests` with one JSON line on `responses`."""
    for line in requests:
        request = json.loads(line)
        results = run_commands(request["commands"], request["cwd"], request["env"], request["timeout"])
        responses.write(json.dumps(results) + "\n")
        responses.flush()


if __name__ == "__main__":
    serve(sys.stdin, RESPONSES)
    os._exit(0)  # every answer is written: skip the interpreter's teardown of TensorFlow (~1 CPU-second)
