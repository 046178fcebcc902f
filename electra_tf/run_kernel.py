"""The run kernel of both training loops (pre-training and fine-tuning): what a loop does around
`training_step.TrainingStep`, written once.

- `StepLoop`: N steps per compiled call (`strategy.run` inside one `tf.function`, as Orbit does), summing a
  dict of per-step statistics reduced over the replicas (a step feature adds a statistic, not a loop).
- `Boundaries` and `drive`: the host loop that runs compiled calls up to the next boundary (the end, every
  `log` / `save` / any other named `every` such as `eval`), stops on a non-finite loss, and hands each call's
  sums to the caller.
- `RunCheckpoints`: model + optimizer + the run's bookkeeping (`RunState`, JSON in a host string variable) in
  one checkpoint, restored from the newest readable one (an unreadable newest one is reported and the previous
  one tried).
- `save_and_stop`: SIGTERM → save → `preemption.Preempted`.
"""

import json

import numpy as np
import tensorflow as tf
from absl import logging

from electra_tf.preemption import PREEMPTED_EXIT_STATUS, Preempted

NONFINITE = "nonfinite"  # the statistic counting steps (and replicas) whose loss was not finite


def next_multiple(step, every):
    """The first multiple of `every` after `step`."""
    return (step // every + 1) * every


def sum_into(totals, sums):
    """`totals + sums` key by key (`sums` when `totals` is None)."""
    return dict(sums) if totals is None else {key: totals[key] + sums[key] for key in totals}


def nonfinite(loss):
    """1.0 when `loss` is not finite, else 0.0: the `NONFINITE` statistic of a replica step."""
    return tf.cast(tf.logical_not(tf.math.is_finite(loss)), tf.float32)


class Boundaries:
    """The steps at which a loop stops between compiled calls: `end` and every multiple of `every[name]` (a
    name whose value is None or 0 is off), e.g. `Boundaries(1000, log=100, save=500, eval=None)`."""

    def __init__(self, end, **every):
        self.end = end
        self.every = every

    def next(self, step):
        """The first boundary after `step` (at most `end`)."""
        return min([self.end] + [next_multiple(step, every) for every in self.every.values() if every])

    def count(self, step, steps_per_execution):
        """How many steps the next compiled call runs from `step`."""
        return min(steps_per_execution, self.next(step) - step)

    def due(self, step, name):
        """Whether `step` is a boundary of `name`."""
        every = self.every.get(name)
        return bool(every) and step % every == 0


class StepLoop:
    """`replica_step(element) → {name: statistic}` run `steps` times per compiled call under `strategy`;
    returns the statistics summed over steps and replicas. `traces` counts how often it was traced."""

    def __init__(self, strategy, replica_step, reduce_retracing=False):
        self.strategy = strategy
        self._replica_step = replica_step
        self.traces = 0
        self._function = tf.function(self._steps_fn, reduce_retracing=reduce_retracing)

    def _one_step(self, iterator):
        per_replica = self.strategy.run(self._replica_step, args=(next(iterator),))
        return {key: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for key, value in per_replica.items()}

    def _steps_fn(self, iterator, steps):
        self.traces += 1  # Python side effect: runs once per trace
        totals = self._one_step(iterator)
        for _ in tf.range(steps - 1):
            totals = sum_into(totals, self._one_step(iterator))
        return totals

    def __call__(self, iterator, steps):
        """Runs `steps` steps of `iterator`; their summed statistics as numpy values."""
        totals = self._function(iterator, tf.constant(steps, tf.int32))
        return {key: value.numpy() for key, value in totals.items()}


def drive(boundaries, steps_per_execution, current_step, train, after, failure_detail=None):
    """Until `current_step()` reaches `boundaries.end`: `train(count) → sums` for the steps up to the next
    boundary (at most `steps_per_execution`), then `after(step, count, sums)`. A call whose `NONFINITE` sum is
    positive raises FloatingPointError (with `failure_detail()` appended) before `after` sees it."""
    while current_step() < boundaries.end:
        count = boundaries.count(current_step(), steps_per_execution)
        sums = train(count)
        step = current_step()
        if sums.get(NONFINITE, 0) > 0:
            detail = failure_detail() if failure_detail else ""
            raise FloatingPointError(f"Non-finite loss at or before step {step}: training stopped{detail}")
        after(step, count, sums)


def save_and_stop(preemption, due, save, step):
    """`save()` when `due` or SIGTERM was received (`preemption.SigtermFlag`); then, on SIGTERM, raises
    `Preempted` (exit status 143)."""
    if due or preemption.requested:
        save()
    if preemption.requested:
        logging.warning("Preempted at step %d: checkpoint saved, exiting with status %d", step,
                        PREEMPTED_EXIT_STATUS)
        raise Preempted()


class RunState:
    """A JSON-able dict (the run's bookkeeping) in a host string variable, saved in the run's checkpoint so
    it never disagrees with the weights. Host memory: a string variable cannot live on a TPU."""

    def __init__(self):
        with tf.device("/cpu:0"):
            self.variable = tf.Variable("", dtype=tf.string, trainable=False)

    def get(self):
        """The state of the restored checkpoint; None when none was set."""
        text = self.variable.numpy().decode("utf-8")
        return json.loads(text) if text else None

    def set(self, value):
        self.variable.assign(json.dumps(value))


class RunCheckpoints:
    """The rolling checkpoints `DIRECTORY/ckpt-<step>` of one run: `objects` (model, optimizer, ...) and a
    `RunState` saved as `state_key`; `save_dir` (default `directory`) is where this worker writes."""

    def __init__(self, directory, max_to_keep, state_key="state", save_dir=None, **objects):
        self.directory = directory
        self.state = RunState()
        self.checkpoint = tf.train.Checkpoint(**objects, **{state_key: self.state.variable})
        self.manager = tf.train.CheckpointManager(self.checkpoint, save_dir or directory, max_to_keep=max_to_keep,
                                                  checkpoint_name="ckpt")

    def restore(self):
        """Restores the newest readable checkpoint (an unreadable one, e.g. truncated by a kill during a copy to
        gs://, is reported and the previous one tried); returns its path, None when there is none. Raises
        OSError when there are checkpoints but none can be read."""
        state = tf.train.get_checkpoint_state(self.directory)
        candidates = list(reversed(state.all_model_checkpoint_paths)) if state else []
        for index, path in enumerate(candidates):
            try:
                self.checkpoint.restore(path).assert_existing_objects_matched()
            except (tf.errors.OpError, IndexError, ValueError) as error:
                logging.warning("Unreadable checkpoint %s (%s: %s)", path, type(error).__name__,
                                str(error).splitlines()[0] if str(error) else "")
                if index + 1 < len(candidates):
                    logging.warning("Falling back to the previous checkpoint %s", candidates[index + 1])
                continue
            logging.info("Resumed from %s", path)
            return path
        if candidates:
            raise OSError(f"None of the checkpoints in {self.directory} can be read: {', '.join(candidates)}")
        return None

    def save(self, step, state=None):
        """Writes checkpoint `step` (with `state`, a JSON-able dict, when given); returns its path."""
        if state is not None:
            self.state.set(state)
        path = self.manager.save(checkpoint_number=step)
        logging.info("Saved checkpoint %s", path)
        return path


def as_numpy_sums(state):
    """Window sums stored by `sums_state` → numpy values of their dtypes (JSON floats are exact)."""
    return {key: np.asarray(value, dtype=state["dtypes"][key]) for key, value in state["sums"].items()}


def sums_state(sums):
    """`{name: numpy value}` as JSON-able `{"sums": ..., "dtypes": ...}` (read back by `as_numpy_sums`)."""
    sums = sums or {}
    return {"sums": {key: np.asarray(value).tolist() for key, value in sums.items()},
            "dtypes": {key: np.asarray(value).dtype.name for key, value in sums.items()}}
