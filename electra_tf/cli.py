"""Runs a command's `main` so that a user error ends it with one ``error: …`` line on stderr and exit status 2.

User errors are bad flags (absl's parsing and validators), `app.UsageError`, and the errors our code raises for
bad input: `ValueError` (with `json.JSONDecodeError`), missing or misplaced files (`OSError` subclasses, and
`tf.errors.NotFoundError` / `PermissionDeniedError` / `InvalidArgumentError` of `tf.io.gfile`). Their messages
name the flag, file and line. ``--verbosity=1`` (absl's ``-v 1``) re-raises them with the full traceback;
other exceptions are bugs and always show their traceback.
"""

import sys

import tensorflow as tf
from absl import app, flags

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
    if isinstance(error, tf.errors.OpError):
        return error.message
    return str(error) or type(error).__name__


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
        except USER_ERRORS as error:
            if _verbose():
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
