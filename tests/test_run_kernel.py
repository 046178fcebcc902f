"""The run kernel both training loops share (`electra_tf.run_kernel`): boundaries, the compiled N-steps loop's
sums, the non-finite stop, SIGTERM → save → `Preempted`, and the checkpointed run state with the fall-back
restore (for fine-tuning too)."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from electra_tf import run_kernel
from electra_tf.finetuning.checkpoints import FinetuneCheckpoints
from electra_tf.preemption import Preempted


def test_boundaries_stop_at_the_end_and_every_multiple_of_each_named_interval():
    boundaries = run_kernel.Boundaries(20, log=6, save=8, eval=None)
    assert [boundaries.next(step) for step in (0, 5, 6, 7, 8, 15, 16, 19)] == [6, 6, 8, 8, 12, 16, 18, 20]
    assert boundaries.count(0, 4) == 4 and boundaries.count(4, 4) == 2 and boundaries.count(18, 4) == 2
    assert boundaries.due(12, "log") and not boundaries.due(12, "save") and boundaries.due(16, "save")
    assert not boundaries.due(0 + 10, "eval") and not boundaries.due(7, "unknown")
    with_eval = run_kernel.Boundaries(20, log=6, eval=5)
    assert [with_eval.next(step) for step in (0, 5, 6, 10)] == [5, 6, 10, 12] and with_eval.due(15, "eval")


class _Counter:
    """A fake compiled loop: each call advances the step by `count` and returns per-call sums."""

    def __init__(self, nan_at=None):
        self.step, self.calls, self.nan_at = 0, [], nan_at

    def train(self, count):
        self.calls.append((self.step, count))
        self.step += count
        bad = self.nan_at is not None and self.step >= self.nan_at
        return {"loss": float(count), run_kernel.NONFINITE: 1.0 if bad else 0.0}


def test_drive_runs_chunks_up_to_each_boundary_and_hands_over_the_sums():
    counter, seen = _Counter(), []
    boundaries = run_kernel.Boundaries(11, log=4, save=6)
    run_kernel.drive(boundaries, 3, lambda: counter.step, counter.train,
                     lambda step, count, sums: seen.append((step, count, sums["loss"])))
    assert counter.calls == [(0, 3), (3, 1), (4, 2), (6, 2), (8, 3)]
    assert [step for step, _, _ in seen] == [3, 4, 6, 8, 11] and sum(loss for *_, loss in seen) == 11


def test_drive_stops_on_a_nonfinite_loss_before_the_caller_sees_it():
    counter, seen = _Counter(nan_at=5), []
    with pytest.raises(FloatingPointError, match=r"Non-finite loss at or before step 6: training stopped; x"):
        run_kernel.drive(run_kernel.Boundaries(10, log=2), 2, lambda: counter.step, counter.train,
                         lambda *args: seen.append(args), failure_detail=lambda: "; x")
    assert [step for step, _, _ in seen] == [2, 4]


class _Flag:
    def __init__(self, requested):
        self.requested = requested


def test_save_and_stop_saves_when_due_or_preempted_and_raises_only_when_preempted():
    saves = []
    run_kernel.save_and_stop(_Flag(False), False, lambda: saves.append(1), 3)
    run_kernel.save_and_stop(_Flag(False), True, lambda: saves.append(2), 4)
    assert saves == [2]
    with pytest.raises(Preempted) as stopped:
        run_kernel.save_and_stop(_Flag(True), False, lambda: saves.append(3), 5)
    assert saves == [2, 3] and stopped.value.code == 143


def test_step_loop_sums_each_statistic_over_the_steps_of_a_call():
    strategy = tf.distribute.get_strategy()
    loop = run_kernel.StepLoop(strategy, lambda x: {"sum": x, "square": x * x, run_kernel.NONFINITE:
                                                    run_kernel.nonfinite(x)})
    iterator = iter(tf.data.Dataset.from_tensor_slices(np.arange(1.0, 11.0, dtype=np.float32)))
    first, second = loop(iterator, 4), loop(iterator, 3)
    assert (first["sum"], first["square"], first[run_kernel.NONFINITE]) == (10.0, 30.0, 0.0)
    assert (second["sum"], second["square"]) == (18.0, 110.0) and loop.traces == 1
    bad = loop(iter(tf.data.Dataset.from_tensor_slices(np.array([1.0, np.inf], np.float32))), 2)
    assert bad[run_kernel.NONFINITE] == 1.0


def _truncate_newest(directory):
    newest = tf.train.latest_checkpoint(directory)
    for path in glob.glob(newest + ".data-*"):
        with open(path, "r+b") as handle:
            handle.truncate(os.path.getsize(path) // 2)
    return newest


def test_run_checkpoints_fall_back_past_an_unreadable_newest_checkpoint(tmp_path):
    variable = tf.Variable(tf.zeros([64]))
    checkpoints = run_kernel.RunCheckpoints(str(tmp_path), max_to_keep=3, counter=variable)
    for step in (1, 2):
        variable.assign(tf.fill([64], float(step)))
        checkpoints.save(step, {"step": step})
    _truncate_newest(str(tmp_path))
    variable.assign(tf.zeros([64]))
    restored = run_kernel.RunCheckpoints(str(tmp_path), max_to_keep=3, counter=variable)
    assert restored.restore().endswith("ckpt-1") and restored.state.get() == {"step": 1}
    assert float(variable.numpy()[0]) == 1.0
    for path in glob.glob(str(tmp_path / "ckpt-1.data-*")):
        open(path, "wb").close()
    with pytest.raises(OSError, match="None of the checkpoints"):
        run_kernel.RunCheckpoints(str(tmp_path), max_to_keep=3, counter=variable).restore()
    assert run_kernel.RunCheckpoints(str(tmp_path / "fresh"), max_to_keep=3, counter=variable).restore() is None


def _model():
    model = keras.Sequential([keras.Input([4]), keras.layers.Dense(3)])
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    return model, optimizer


def test_a_truncated_newest_finetuning_checkpoint_falls_back_to_the_previous_one(tmp_path):
    model, optimizer = _model()
    checkpoints = FinetuneCheckpoints(model, optimizer, str(tmp_path))
    kernels = []
    for step in (5, 10):
        model.layers[0].kernel.assign(np.full([4, 3], float(step), np.float32))
        kernels.append(model.layers[0].kernel.numpy())
        checkpoints.save(step, {"epochs": [{"epoch": step // 5}], "best": None, "loss_sum": float(step)})
    assert _truncate_newest(checkpoints.directory).endswith("ckpt-10")
    fresh, fresh_optimizer = _model()
    state = FinetuneCheckpoints(fresh, fresh_optimizer, str(tmp_path)).restore()
    assert state == {"epochs": [{"epoch": 1}], "best": None, "loss_sum": 5.0}
    np.testing.assert_array_equal(fresh.layers[0].kernel.numpy(), kernels[0])
    assert FinetuneCheckpoints(*_model(), str(tmp_path / "new")).restore() is None


def test_window_sums_round_trip_exactly_through_the_run_state():
    sums = {"a": np.float32(0.1) * 3, "b": np.arange(3, dtype=np.int32), "c": np.float64(1e-300)}
    back = run_kernel.as_numpy_sums(run_kernel.sums_state(sums))
    for key, value in sums.items():
        assert back[key].dtype == np.asarray(value).dtype and np.array_equal(back[key], value)
