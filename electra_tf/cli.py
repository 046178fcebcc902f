"""Runs a command's `main` so that a user error ends it with one ``error: …`` line on stderr and exit status 2.

User errors are bad flags (absl's parsing and validators), `app.UsageError`, and the errors our code raises for
bad input: `ValueError` (with `json.JSONDecodeError`), missing or misplaced files (`OSError` subclasses, and
`tf.errors.NotFoundError` / `PermissionDeniedError` / `InvalidArgumentError` of `tf.io.gfile`, and its
"is a directory" / "is not a directory" `FailedPreconditionError`). Their messages name the file and line; an
error about a path (an `OSError`'s `filename` or `io_utils.path_error`'s `path`, a `tf.io.gfile` error's path) that a flag gave, the path
itself or one inside it, is prefixed with that flag (``error: --output_dir: …``) unless it names it already.
``--verbosity=1`` (absl's ``-v 1``) re-raises them with the full traceback; other exceptions are bugs and
always show their traceback. (TensorFlow's start-up lines are held back by `electra_tf` itself.)
"""

import os
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
    path = None
    if isinstance(error, tf.errors.OpError):
        converted = io_utils.as_os_error(error)
        message, path = (str(converted), converted.path) if converted else (error.message, None)
    elif isinstance(error, OSError) and error.filename and error.strerror:  # raised by the OS
        path = str(error.filename)
        message = f"{path}: {error.strerror}"
    elif isinstance(error, OSError):
        path, message = getattr(error, "path", None), str(error)
    else:
        message = str(error) or type(error).__name__
    flag = _flag_giving(path) if path else None
    return f"--{flag}: {message}" if flag and f"--{flag}" not in message else message


def _flag_giving(path):
    """The flag whose value (a path, or one of a repeated flag's) is `path` or a directory holding it; the
    longest such value wins. None when no flag gave it or the flags are not parsed."""
    path, best, best_length = os.path.normpath(path), None, 0
    try:
        items = {flags.FLAGS[name].name: flags.FLAGS[name].value for name in flags.FLAGS}.items()
    except flags.UnparsedFlagAccessError:
        return None
    for name, value in items:
        for candidate in value if isinstance(value, list) else [value]:
            if not isinstance(candidate, str) or not candidate:
                continue
            candidate = os.path.normpath(candidate)
            if (path == candidate or path.startswith(candidate.rstrip("/") + "/")) and len(candidate) > best_length:
                best, best_length = name, len(candidate)
    return best


def _is_user_error(error):
    return isinstance(error, USER_ERRORS) or (isinstance(error, tf.errors.OpError)
                                              and io_utils.as_os_error(error) is not None)


def _verbose():
    try:
        return flags.FLAGS["verbosity"].value >= 1
    except (KeyError, flags.UnparsedFlagAccessError):
        return False


def parse_flags(argv):
    """absl flag parsing that turns a bad, missing or unknown flag or a stray argument into one error line."""
    try:
        rest = flags.FLAGS(argv)
    except flags.Error as error:
        fail(error)
    if len(rest) > 1:
        fail(f"unexpected argument(s) {' '.join(rest[1:])} (flags are --name=value)")
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


def run(main):
    """`app.run(main)` with one-line user errors (`parse_flags`, `guarded`)."""
    app.run(guarded(main), flags_parser=parse_flags)
