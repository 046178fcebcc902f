"""Runs a command's `main` so that a user error ends it with one ``error: …`` line on stderr and exit status 2.

User errors are bad flags (absl's parsing and validators), `app.UsageError`, and the errors our code raises for
bad input: `ValueError` (with `json.JSONDecodeError`), missing or misplaced files (`OSError` subclasses, and
`tf.errors.NotFoundError` / `PermissionDeniedError` / `InvalidArgumentError` of `tf.io.gfile`, and its
"is a directory" / "is not a directory" `FailedPreconditionError`). Their messages name the file and line.
An error about a file that a flag gave (the flag's value is the path or a directory holding it: an `OSError`'s
`filename`, `io_utils.path_error`'s `path`, a `tf.io.gfile` error's path, or a path in a file error's message)
is prefixed with that flag (``error: --output_dir: …``) unless it names it already; other messages (``FILE:LINE:
…``) stay as they are.
``--verbosity=1`` (absl's ``-v 1``) re-raises them with the full traceback; other exceptions are bugs and
always show their traceback. (TensorFlow's start-up lines are held back by `electra_tf` itself.)
"""

import os
import re
import sys

import tensorflow as tf
from absl import app, flags

from electra_tf import io_utils

USAGE_STATUS = 2
ERROR_PREFIX = "error: "
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
               PermissionError, app.UsageError, flags.Error, tf.errors.NotFoundError,
               tf.errors.PermissionDeniedError, tf.errors.InvalidArgumentError)


def fail(message):
    """Ends the process with ``error: message`` (one line) and exit status 2."""
    print(ERROR_PREFIX + " ".join(str(message).split()), file=sys.stderr, flush=True)
    sys.exit(USAGE_STATUS)


def _message(error):
    """The one-line message of a user error, prefixed with the flag that gave the path it is about."""
    path = None
    if isinstance(error, tf.errors.OpError):
        converted = io_utils.as_os_error(error)
        message, path = (str(converted), converted.path) if converted else (error.message, None)
    elif isinstance(error, OSError) and error.filename and error.strerror:  # raised by the OS
        path = str(error.filename)
        message = f"{path}: {error.strerror}"
    else:
        message = str(error) or type(error).__name__
        path = getattr(error, "path", None)
    about_files = isinstance(error, (OSError, tf.errors.NotFoundError, tf.errors.PermissionDeniedError))
    flag = _flag_giving(path) if path else (_flag_named_in(message) if about_files else None)
    return f"--{flag}: {message}" if flag and f"--{flag}" not in message else message


def _path_flags():
    """``(name, normalized path)`` for every parsed string flag value (each of a repeated flag's) that is a path
    (holds a ``/`` or exists); empty when the flags are not parsed."""
    try:
        values = {flags.FLAGS[name].name: flags.FLAGS[name].value for name in flags.FLAGS}
    except flags.UnparsedFlagAccessError:
        return []
    found = []
    for name, value in values.items():
        for candidate in value if isinstance(value, list) else [value]:
            if isinstance(candidate, str) and candidate and ("/" in candidate or tf.io.gfile.exists(candidate)):
                found.append((name, os.path.normpath(candidate)))
    return found


def _flag_giving(path):
    """The flag whose value is `path` or a directory holding it (the longest such value), else None."""
    path = os.path.normpath(path)
    matches = [(len(value), name) for name, value in _path_flags()
               if path == value or path.startswith(value.rstrip("/") + "/")]
    return max(matches)[1] if matches else None


def _flag_named_in(message):
    """The flag whose path value (the longest) appears in `message` as a whole path or a directory of one."""
    matches = []
    for name, value in _path_flags():
        for found in re.finditer(re.escape(value), message):
            after = message[found.end():found.end() + 1]
            if after in ("", "/", "'", '"', ":", ";", ",", ")", " "):
                matches.append((len(value), name))
    return max(matches)[1] if matches else None


def _is_user_error(error):
    return isinstance(error, USER_ERRORS) or (isinstance(error, tf.errors.OpError)
                                              and io_utils.as_os_error(error) is not None)


def _verbose():
    try:
        return flags.FLAGS["verbosity"].value >= 1
    except (KeyError, flags.UnparsedFlagAccessError):
        return False


def parse_flags(argv, positional=0):
    """absl flag parsing that turns a bad, missing or unknown flag or a stray argument (beyond `positional`
    ones) into one error line."""
    try:
        rest = flags.FLAGS(argv)
    except flags.Error as error:
        fail(error)
    if len(rest) > 1 + positional:
        fail(f"unexpected argument(s) {' '.join(rest[1 + positional:])} (flags are --name=value)")
    return rest


def guarded(main):
    """`main` whose user errors (`USER_ERRORS`) end in `fail` unless ``--verbosity`` is 1 or more."""

    def run_main(argv):
        try:
            return main(argv)
        except (*USER_ERRORS, tf.errors.OpError) as error:
            if _verbose() or not _is_user_error(error):
                raise
            fail(_message(error))
        except SystemExit as done:  # `sys.exit("error: ...")` of older code: the same one line, status 2
            if isinstance(done.code, str) and done.code.startswith(ERROR_PREFIX):
                fail(done.code[len(ERROR_PREFIX):])
            raise

    run_main.__doc__ = main.__doc__
    return run_main


def run(main, positional=0):
    """`app.run(main)` with one-line user errors (`parse_flags`, `guarded`); `positional`: how many arguments
    that are not flags the command takes."""
    app.run(guarded(main), flags_parser=lambda argv: parse_flags(argv, positional))
