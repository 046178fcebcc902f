"""Fine-tuning checkpoints in OUTPUT_DIR/checkpoints: the model, the optimizer (its step count is the position in
the run), the dropout seed states and the run's bookkeeping (per-epoch records, best epoch, the running epoch's loss sum) as a JSON string
saved in the same checkpoint, so the three never disagree; the best epoch's weights go to `best/`."""

import json
import os

import tensorflow as tf
from absl import logging

CHECKPOINT_DIR = "checkpoints"


class FinetuneCheckpoints:
    """Saves and restores one fine-tuning run; `output_dir` may be `gs://...`."""

    def __init__(self, model, optimizer, output_dir, max_to_keep=2):
        self.directory = os.path.join(output_dir, CHECKPOINT_DIR)
        self._state = tf.Variable("{}", dtype=tf.string, trainable=False)
        weights = {id(variable) for variable in model.weights}
        # the dropout layers' random-seed states: a resumed run draws the same dropout masks
        random_states = [variable for variable in model.variables if id(variable) not in weights]
        self._checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, state=self._state,
                                               random_states=random_states)
        self._manager = tf.train.CheckpointManager(self._checkpoint, self.directory, max_to_keep=max_to_keep,
                                                   checkpoint_name="ckpt")
        self._best = tf.train.Checkpoint(model=model)
        self._best_prefix = os.path.join(self.directory, "best", "weights")

    def restore(self):
        """Loads the latest checkpoint; returns its state dict, or None when the run starts fresh."""
        latest = self._manager.latest_checkpoint
        if not latest:
            return None
        self._checkpoint.restore(latest).assert_existing_objects_matched()
        logging.info("Resumed from %s", latest)
        return json.loads(self._state.numpy().decode("utf-8"))

    def save(self, step, state):
        """Writes the model, optimizer and `state` (a JSON-able dict) as checkpoint `step`."""
        self._state.assign(json.dumps(state))
        path = self._manager.save(checkpoint_number=step)
        logging.info("Saved checkpoint %s", path)
        return path

    def save_best(self):
        """Writes the model's current weights as the best epoch's (read back by `restore_best`)."""
        return self._best.write(self._best_prefix)

    def restore_best(self):
        self._best.read(self._best_prefix).assert_existing_objects_matched()
