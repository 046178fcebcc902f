"""electra_tf: ELECTRA pre-training and fine-tuning for Korean on TensorFlow 2 / Keras 3.

Importing the package imports TensorFlow with its start-up output held back: TensorFlow's C++ writes lines
straight to file descriptor 2 while it loads and probes devices (``WARNING: All log messages before
absl::InitializeLog() …``, oneDNN and CUDA notices; they differ by CPU and ignore ``TF_CPP_MIN_LOG_LEVEL``),
which would bury a command's one ``error:`` line. Those lines are kept in `TENSORFLOW_STARTUP_LOG`, written
out if the import fails, and shown as they come with ``--verbosity=1`` (absl's ``-v 1``) on the command line
or ``ELECTRA_TF_SHOW_STARTUP=1`` in the environment. oneDNN stays on (turning it off changes the numerics).
"""

import os
import sys
import tempfile

__version__ = "0.1.0"

SHOW_STARTUP_ENV = "ELECTRA_TF_SHOW_STARTUP"
TENSORFLOW_STARTUP_LOG = ""  # what TensorFlow wrote to stderr while it started, when held back


def _verbosity_asked(argv):
    """Whether `argv` sets absl's verbosity to 1 or more (``--verbosity=N``, ``--verbosity N``, ``-v N``)."""
    for index, argument in enumerate(argv):
        name, equals, value = argument.partition("=")
        if name not in ("--verbosity", "-verbosity", "--v", "-v"):
            continue
        if not equals and index + 1 < len(argv):
            value = argv[index + 1]
        try:
            return int(value) >= 1
        except ValueError:
            return False
    return False


def _show_startup():
    return os.environ.get(SHOW_STARTUP_ENV, "") not in ("", "0") or _verbosity_asked(sys.argv[1:])


def _start_tensorflow():
    """Imports TensorFlow and lists its devices (the CUDA probe also prints) with fd 2 pointed at a temporary
    file; keeps what was written in `TENSORFLOW_STARTUP_LOG` and writes it to stderr if the import fails."""
    global TENSORFLOW_STARTUP_LOG
    if "tensorflow" in sys.modules or _show_startup():
        import tensorflow as tf

        tf.config.list_physical_devices()
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2: nothing to hide
        saved = None
    with tempfile.TemporaryFile() as held:
        if saved is not None:
            os.dup2(held.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # listing devices does not initialise them: configuration stays open
        except BaseException:
            _restore(saved, held)
            sys.stderr.write(TENSORFLOW_STARTUP_LOG)
            raise
        _restore(saved, held)


def _restore(saved, held):
    global TENSORFLOW_STARTUP_LOG
    if saved is None:
        return
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    held.seek(0)
    TENSORFLOW_STARTUP_LOG = held.read().decode("utf-8", errors="replace")


_start_tensorflow()
