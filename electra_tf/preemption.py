"""Preemption: SIGTERM (what Cloud TPU VMs, GKE and Slurm send before taking a machine away) becomes a flag the
training loops check between steps; they save a checkpoint and exit with `PREEMPTED_EXIT_STATUS`, so the
scheduler sees an unfinished job and restarts it."""

import signal

from absl import logging

PREEMPTED_EXIT_STATUS = 143  # 128 + SIGTERM: what a shell reports for a process ended by SIGTERM


class Preempted(SystemExit):
    """Raised by a loop after it saved on SIGTERM: exits the process with `PREEMPTED_EXIT_STATUS`."""

    def __init__(self):
        super().__init__(PREEMPTED_EXIT_STATUS)


class SigtermFlag:
    """Context manager: while active, SIGTERM sets `requested` instead of ending the process."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread
            self._previous = None
        return self

    def _handle(self, signum, frame):
        logging.warning("SIGTERM received: saving a checkpoint and stopping")
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
