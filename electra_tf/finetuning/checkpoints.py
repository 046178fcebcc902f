"""Fine-tuning checkpoints in OUTPUT_DIR/checkpoints (`run_kernel.RunCheckpoints`): the model, the optimizer (its
step count is the position in the run), the dropout seed states and the run's bookkeeping (per-epoch records,
best epoch, the running epoch's loss sum) as the run state saved in the same checkpoint, so the three never
disagree; an unreadable newest checkpoint is reported and the previous one restored. The best epoch's weights
go to `best/`."""

import os

import tensorflow as tf

from electra_tf import run_kernel
from electra_tf.finetuning.loop import NO_TIMER

CHECKPOINT_DIR = "checkpoints"


class FinetuneCheckpoints:
    """Saves and restores one fine-tuning run; `output_dir` may be `gs://...`. `timer`: see `finetuning.loop`."""

    def __init__(self, model, optimizer, output_dir, max_to_keep=2, timer=NO_TIMER):
        self.directory = os.path.join(output_dir, CHECKPOINT_DIR)
        self.timer = timer
        weights = {id(variable) for variable in model.weights}
        # the dropout layers' random-seed states: a resumed run draws the same dropout masks
        random_states = [variable for variable in model.variables if id(variable) not in weights]
        self._run = run_kernel.RunCheckpoints(self.directory, max_to_keep, state_key="state", model=model,
                                              optimizer=optimizer, random_states=random_states)
        self._best = tf.train.Checkpoint(model=model)
        self._best_prefix = os.path.join(self.directory, "best", "weights")

    def restore(self):
        """Loads the newest readable checkpoint; returns its state dict, or None when the run starts fresh."""
        return self._run.state.get() if self._run.restore() else None

    def save(self, step, state):
        """Writes the model, optimizer and `state` (a JSON-able dict) as checkpoint `step`."""
        with self.timer.phase("checkpoint save"):
            return self._run.save(step, state)

    def save_best(self):
        """Writes the model's current weights as the best epoch's (read back by `restore_best`)."""
        with self.timer.phase("checkpoint save_best"):
            return self._best.write(self._best_prefix)

    def restore_best(self):
        with self.timer.phase("checkpoint restore_best"):
            self._best.read(self._best_prefix).assert_existing_objects_matched()
