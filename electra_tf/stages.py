"""Resumable stages: commands run in order, each stage skipped when its completion marker says it is done.

Each stage runs its commands in child processes that die with the runner and, once they succeed, writes a
completion marker `WORK/.done/<stage>.json` atomically. The marker records what the stage was run from: its
commands, the checksums of the files it read from outside WORK (`Stage.inputs`) and the markers of the stages
before it. A stage is skipped only when its marker reads back whole and all of that still holds and its outputs
exist; otherwise it runs again (and so do the stages after it), with a line saying why. A killed stage simply runs
again (the commands themselves resume: pre-training from its last checkpoint); a stage that resumes from its
output directory and must re-run because something changed first moves that output aside to `WORK/.stale/`.
The recipe runner (`electra_tf.recipe`) and the demo (`electra_tf.pipeline`) plan their stages and run them here.
"""

import collections
import ctypes
import dataclasses
import functools
import os
import signal
import subprocess
import sys
import time
import uuid

import tensorflow as tf

from electra_tf import io_utils
from electra_tf.data.schema import vocab_sha256 as file_sha256

# The directory holding the imported `electra_tf` package (a checkout, or site-packages), put first on the
# stages' PYTHONPATH so that they run the same code as the runner.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER_VERSION = 2
MARKER_KEYS = {"version": int, "id": str, "stage": str, "commands": list, "inputs": dict, "outputs": list,
               "after": dict, "seconds": (int, float), "finished": str}


class StageFailed(RuntimeError):
    def __init__(self, stage, returncode, log=None):
        super().__init__(f"stage {stage} failed (exit {returncode})" + (f"; its log: {log}" if log else ""))
        self.stage, self.returncode, self.log = stage, returncode, log


@dataclasses.dataclass
class Stage:
    """One step: the commands it runs in order and the path its result is read from.

    `inputs`: files, directories or globs outside the work directory that the commands read (their checksums go
    in the marker); `outputs`: further paths that must exist for a marker to count (besides `output`);
    `resumable`: the commands resume from what is in `output` (moved aside when the stage must start over);
    `result`: a function of the stage giving a short text for the summary table (e.g. a test score).
    """

    name: str
    commands: list
    output: str = ""
    inputs: tuple = ()
    outputs: tuple = ()
    resumable: bool = False
    result: object = None

    def required_outputs(self):
        return [path for path in (self.output, *self.outputs) if path]


Row = collections.namedtuple("Row", "stage status seconds output result", defaults=("",))


# Completion markers ------------------------------------------------------------------------------------------------

def marker_path(work_dir, stage_name):
    return os.path.join(work_dir, ".done", f"{stage_name}.json")


def input_checksums(stage):
    """{file: sha256} of the files `stage.inputs` name (a directory: every file below it; a glob: its matches);
    a pattern that matches nothing maps to None."""
    checksums = {}
    for pattern in stage.inputs:
        matched = sorted(tf.io.gfile.glob(pattern))
        if not matched:
            checksums[pattern] = None
        for path in matched:
            if tf.io.gfile.isdir(path):
                for folder, _, files in tf.io.gfile.walk(path):
                    for name in files:
                        checksums[os.path.join(folder, name)] = file_sha256(os.path.join(folder, name))
            else:
                checksums[path] = file_sha256(path)
    return checksums


def read_marker(path):
    """(marker, None, False) when `path` holds a whole completion marker, else (None, why, restart): why is None
    when there is none; restart says that what the stage left cannot be trusted (an unreadable marker) rather
    than merely unverified (a marker of the runner's older version, which recorded no inputs)."""
    if not tf.io.gfile.exists(path):
        return None, None, False
    try:
        marker = io_utils.read_json(path)
    except ValueError as error:
        return None, f"its marker {path} is unreadable ({' '.join(str(error).split())[:120]})", True
    if isinstance(marker, dict) and "version" not in marker and {"stage", "commands", "finished"} <= set(marker):
        return None, f"its marker {path} is from an older version of this runner (no input checksums)", False
    wrong = [key for key, kind in MARKER_KEYS.items() if not isinstance(marker, dict)
             or not isinstance(marker.get(key), kind)]
    if wrong or marker.get("version") != MARKER_VERSION:
        return None, f"its marker {path} is not one of this runner's (bad {', '.join(wrong) or 'version'})", True
    return marker, None, False


def _command_change(old, new):
    """What differs between two stage command lists, for the log (the interpreter is not compared)."""
    old_arguments = [argument for command in old for argument in command[1:]]
    new_arguments = [argument for command in new for argument in command[1:]]
    added = [argument for argument in new_arguments if argument not in old_arguments]
    removed = [argument for argument in old_arguments if argument not in new_arguments]
    text = "; ".join(part for part in (f"now {' '.join(added)}" if added else "",
                                       f"was {' '.join(removed)}" if removed else "") if part)
    return f"its command changed ({text[:300] or 'order'})"


def stale_reason(stage, marker, checksums, after):
    """Why a stage with a readable `marker` must run again (None: it is done) and whether its output is stale."""
    if marker["stage"] != stage.name:
        return f"its marker belongs to stage {marker['stage']!r}", True
    if [command[1:] for command in marker["commands"]] != [command[1:] for command in stage.commands]:
        return _command_change(marker["commands"], stage.commands), True
    changed = sorted(path for path in {*marker["inputs"], *checksums}
                     if marker["inputs"].get(path) != checksums.get(path))
    if changed:
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        return f"its input {changed[0]} changed since it ran{more}", True
    reran = [name for name in after if marker["after"].get(name) != after[name]]
    if reran or set(marker["after"]) != set(after):
        return f"stage {(reran or sorted(set(marker['after']) ^ set(after)))[0]} ran again after it", True
    missing = [path for path in marker["outputs"] + stage.required_outputs() if not tf.io.gfile.exists(path)]
    if missing:
        return f"its output {missing[0]} is missing", False
    return None, False


def _move_aside(stage, work_dir):
    """Moves a resumable stage's outputs to WORK/.stale/STAGE-TIME/ so that its commands start over."""
    target = os.path.join(work_dir, ".stale", f"{stage.name}-{time.strftime('%Y%m%dT%H%M%S')}")
    for path in stage.required_outputs():
        if tf.io.gfile.exists(path) and not path.startswith(stage.output.rstrip("/") + "/"):
            tf.io.gfile.makedirs(target)
            tf.io.gfile.rename(path, os.path.join(target, os.path.basename(path.rstrip("/"))))
            print(f"=== {stage.name}: moved its earlier output {path} to {target}", flush=True)


# Running -----------------------------------------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1  # linux/prctl.h
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with(parent_pid):
    """Runs in the child before it executes its command: the kernel SIGKILLs it when the runner dies (a
    `kill -9` of the runner included); a runner already gone ends it at once."""
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


def run_command(command, env=None, log=None):
    """Runs `command` in a child process that dies with this one (Linux), its output appended to the local file
    `log` (or shown), and returns its exit status; a SIGTERM to the runner is passed on to the child (which may
    save and stop) instead of killing it."""
    preexec = functools.partial(_die_with, os.getpid()) if _PRCTL else None
    handle = open(log, "ab") if log else None  # a child writes to an OS file descriptor: local files only
    try:
        child = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT if handle else None,
                                 preexec_fn=preexec)
        forward = lambda signum, frame: child.send_signal(signum)  # noqa: E731
        try:
            previous = signal.signal(signal.SIGTERM, forward)
        except ValueError:  # not the main thread: no handler to install
            previous = None
        try:
            return child.wait()
        except KeyboardInterrupt:  # Ctrl-C reached the child too: let it stop before we do
            child.wait()
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    finally:
        if handle:
            handle.close()


def _result(stage):
    return stage.result(stage) if stage.result else ""


def _log_path(log_dir, stage):
    return os.path.join(log_dir, f"{stage.name}.log") if log_dir else None


def run_stages(stages, work_dir, until=None, run=run_command, env=None, log_dir=None):
    """Runs `stages` in order up to `until` (a stage name), skipping those whose marker says they are done
    (see the module doc). With `log_dir` (local), each stage's output goes to `LOG_DIR/<stage>.log`.

    Returns the summary rows (`Row`); raises `StageFailed` (with the rows so far in `.rows`) when a command
    exits with an error, leaving that stage without a marker.
    """
    names = [stage.name for stage in stages]
    if until is not None and until not in names:
        raise ValueError(f"--until must be one of {', '.join(names)}, got {until!r}")
    rows, after = [], {}
    for stage in stages:
        marker_file = marker_path(work_dir, stage.name)
        checksums = input_checksums(stage)
        marker, reason, restart = read_marker(marker_file)
        if marker is not None:
            reason, restart = stale_reason(stage, marker, checksums, after)
        if marker is not None and reason is None:
            rows.append(Row(stage.name, "skipped (done)", 0.0, stage.output, _result(stage)))
            after[stage.name] = marker["id"]
        else:
            if reason:
                print(f"\n=== {stage.name} runs again: {reason}", flush=True)
                if restart and stage.resumable:
                    _move_aside(stage, work_dir)
                tf.io.gfile.remove(marker_file)  # only now: a kill before this still finds the marker stale
            log = _log_path(log_dir, stage)
            if log:
                tf.io.gfile.makedirs(log_dir)
                print(f"=== {stage.name} (its commands and output: {log})", flush=True)
            start = time.time()
            for command in stage.commands:
                if log:
                    with open(log, "a", encoding="utf-8") as handle:
                        handle.write(f"\n=== {stage.name}: {' '.join(command)}\n")
                else:
                    print(f"\n=== {stage.name}: {' '.join(command)}", flush=True)
                returncode = run(command, env=env, log=log)
                if returncode != 0:
                    rows.append(Row(stage.name, f"FAILED (exit {returncode})", time.time() - start, log or ""))
                    error = StageFailed(stage.name, returncode, log)
                    error.rows = rows
                    raise error
            seconds = time.time() - start
            marker = {"version": MARKER_VERSION, "id": uuid.uuid4().hex, "stage": stage.name,
                      "commands": stage.commands, "inputs": checksums, "outputs": stage.required_outputs(),
                      "after": dict(after), "seconds": round(seconds, 1),
                      "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
            io_utils.write_json(marker_file, marker)
            after[stage.name] = marker["id"]
            rows.append(Row(stage.name, "done", seconds, stage.output, _result(stage)))
        if stage.name == until:
            break
    return rows


def subprocess_env():
    """The environment for the stages: the imported package first on PYTHONPATH, wherever the user runs from."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    return env


def print_summary(rows, log_dir=None):
    print("\n| stage | status | seconds | result | output |\n|---|---|---|---|---|")
    for row in rows:
        row = Row(*row)
        print(f"| {row.stage} | {row.status} | {row.seconds:.0f} | {row.result} | {row.output} |")
    if log_dir:
        print(f"stage logs: {os.path.join(log_dir, '<stage>.log')}")


def tail(path, lines=20):
    """The last `lines` lines of a local text file."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return "".join(collections.deque(handle, maxlen=lines))


def run_with_summary(stages, work_dir, until=None, log_dir=None, run=run_command):
    """Runs the stages (each command with `run`, see `run_stages`) with the summary table printed at the end;
    returns the process exit code. A failed stage's last log lines are shown before the error."""
    try:
        rows = run_stages(stages, work_dir, until, run=run, env=subprocess_env(), log_dir=log_dir)
    except StageFailed as error:
        print_summary(error.rows, log_dir)
        if error.log and os.path.exists(error.log):
            print(f"\nlast lines of {error.log}:\n{tail(error.log).rstrip()}", flush=True)
        print(f"error: {error}; re-run the same command to retry it", file=sys.stderr)
        return error.returncode if error.returncode > 0 else 1  # a killed command has a negative code
    print_summary(rows, log_dir)
    return 0
