"""The pre-training loop: `strategy.run` inside a `tf.function` that runs N steps per call (as Orbit does),
checkpoints with `tf.train.CheckpointManager` (resume, preemption), TensorBoard summaries and progress lines.

Exact resume: a checkpoint holds the model, the optimizer and the sums of the unfinished logging window; the
data order, masking, sampling and dropout are pure functions of (seed, step, example), so a run resumed at
step s starts the dataset at step s (`start_step`) and ends with the weights and metrics.json of the
uninterrupted run. SIGTERM saves and exits with `preemption.PREEMPTED_EXIT_STATUS` without exporting.
"""

import json
import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from electra_tf import distribute, io_utils, weights
from electra_tf.export import export_transformers
from electra_tf.formats import tf1_checkpoint
from electra_tf.preemption import PREEMPTED_EXIT_STATUS, Preempted, SigtermFlag
from electra_tf.pretrained import detect_source, read_source
from electra_tf.pretraining import masking, rundir
from electra_tf.pretraining.metrics import metrics_from_sums
from electra_tf.pretraining.model import ElectraPretrainer
from electra_tf.training_step import TrainingStep


class PretrainingRun:
    """Everything one pre-training run holds: strategy, pretrainer, optimizer, checkpoints, step functions."""

    def __init__(self, config, discriminator_config, special_ids, model_dir, strategy, jit_compile=False):
        self.config = config
        self.model_dir = model_dir
        self.strategy = strategy
        self.is_chief = distribute.is_chief(strategy)
        # Every worker takes part in saving (variables may be read collectively), but only the chief writes
        # to model_dir; the others write to a scratch directory that is removed after each save.
        resolver = getattr(strategy, "cluster_resolver", None)
        self._save_dir = model_dir if self.is_chief else os.path.join(
            model_dir, f".scratch-worker-{getattr(resolver, 'task_id', 0)}")
        self.jit_compile = jit_compile
        with strategy.scope():
            self.pretrainer = ElectraPretrainer(config, discriminator_config, special_ids)
            self.engine = TrainingStep(
                self.pretrainer, self._loss, jit_compile=jit_compile, learning_rate=config.learning_rate,
                train_steps=config.train_steps, warmup_steps=config.warmup_steps,
                weight_decay_rate=config.weight_decay_rate, epsilon=config.adam_epsilon,
                lr_decay_power=config.lr_decay_power, clip_norm=config.clip_norm,
                bias_correction=config.adam_bias_correction)
            self.optimizer = self.engine.optimizer
        with tf.device("/cpu:0"):  # host memory: a string (JSON) variable cannot live on a TPU
            self._window = tf.Variable("", dtype=tf.string, trainable=False)
        with strategy.scope():
            self.checkpoint = tf.train.Checkpoint(pretrainer=self.pretrainer, optimizer=self.optimizer,
                                                  window=self._window)
            self.manager = tf.train.CheckpointManager(
                self.checkpoint, self._save_dir, max_to_keep=config.keep_checkpoint_max, checkpoint_name="ckpt")
        self._train_steps = tf.function(self._train_steps_fn)

    @property
    def step(self):
        return self.engine.step

    def restore(self):
        """Restores the newest readable checkpoint of `model_dir` (an unreadable one, e.g. truncated by a
        kill during a copy to gs://, is reported and the previous one tried); returns its step (0 when there
        is none). Raises OSError when there are checkpoints but none can be read."""
        state = tf.train.get_checkpoint_state(self.model_dir)
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
            logging.info("Resumed from %s at step %d", path, self.step)
            return self.step
        if candidates:
            raise OSError(f"None of the checkpoints in {self.model_dir} can be read: {', '.join(candidates)}")
        return self.step

    def window_state(self):
        """`(sums, first_step)` of the logging window the restored checkpoint was in the middle of."""
        text = self._window.numpy().decode()
        if not text:
            return None, self.step
        state = json.loads(text)
        sums = {key: np.asarray(value, dtype=state["dtypes"][key]) for key, value in state["sums"].items()}
        return (sums or None), state["start"]

    def set_window_state(self, sums, first_step):
        """Records the unfinished logging window (saved with the next checkpoint; JSON floats are exact)."""
        sums = sums or {}
        self._window.assign(json.dumps({
            "start": int(first_step), "sums": {key: np.asarray(value).tolist() for key, value in sums.items()},
            "dtypes": {key: np.asarray(value).dtype.name for key, value in sums.items()}}))

    def save(self):
        path = self.manager.save(checkpoint_number=self.step)
        if not self.is_chief:
            tf.io.gfile.rmtree(self._save_dir)
            return None
        logging.info("Saved checkpoint %s", path)
        for kept in rundir.keep_series(self.model_dir, self.config.keep_checkpoint_every_n_steps):
            logging.info("Kept %s in the checkpoint series", kept)
        return path

    def initialize_from(self, init_checkpoint, init_generator_checkpoint=None):
        """Loads released weights into a fresh run: both networks of an original TF1 checkpoint, or
        transformers directories or keras-hub ELECTRA presets (discriminator, and optionally generator; a
        keras-hub preset holds the encoder only, so the head starts fresh). Optimizer slots start at zero."""
        if detect_source(init_checkpoint) == "tf1":
            for network in ("generator", "discriminator"):  # the discriminator's embeddings win if they differ
                model = getattr(self.pretrainer, network)
                _, arrays = tf1_checkpoint.read_tf1_checkpoint(init_checkpoint, network, list(model.hf_weights()))
                weights.assign_arrays(model, arrays, init_checkpoint, allow_missing_head=False)
            return
        if init_generator_checkpoint:
            _, arrays, _ = read_source(init_generator_checkpoint, network="generator")
            weights.assign_arrays(self.pretrainer.generator, arrays, init_generator_checkpoint)
        _, arrays, _ = read_source(init_checkpoint)
        weights.assign_arrays(self.pretrainer.discriminator, arrays, init_checkpoint)

    # Step functions -----------------------------------------------------------------------------------------

    def _seeds(self, batch):
        context = tf.distribute.get_replica_context()
        rows = batch["input_ids"].shape[0]
        first_row = tf.cast(context.replica_id_in_sync_group, tf.int64) * rows
        return masking.example_seeds(self.config.seed, self.optimizer.iterations, self.config.train_batch_size,
                                     first_row, rows)

    def _loss(self, batch, masked, seeds):
        outputs = self.pretrainer(batch, masked, seeds, training=True)
        return outputs["loss"], outputs

    def _replica_step(self, batch):
        seeds = self._seeds(batch)
        masked = self.pretrainer.mask(batch, seeds)
        outputs = self.engine.replica_step(batch, masked, seeds)
        statistics = {key: value for key, value in outputs.items() if key != "loss"}
        statistics["nonfinite"] = tf.cast(tf.logical_not(tf.math.is_finite(outputs["loss"])), tf.float32)
        return statistics

    def _one_step(self, iterator):
        per_replica = self.strategy.run(self._replica_step, args=(next(iterator),))
        return {key: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for key, value in per_replica.items()}

    def _train_steps_fn(self, iterator, steps):
        totals = self._one_step(iterator)
        for _ in tf.range(steps - 1):
            totals = _sum_into(totals, self._one_step(iterator))
        return totals

    def train_steps(self, iterator, steps):
        """Runs `steps` optimizer steps; returns their summed statistics as numpy values."""
        totals = self._train_steps(iterator, tf.constant(steps, tf.int32))
        return {key: value.numpy() for key, value in totals.items()}

    # Export -------------------------------------------------------------------------------------------------

    def export(self, vocab_file, output_dir=None):
        """Writes the discriminator and the generator as transformers directories."""
        output_dir = output_dir or os.path.join(self.model_dir, "export")
        paths = {}
        for name in ("discriminator", "generator"):
            paths[name] = export_transformers(getattr(self.pretrainer, name), os.path.join(output_dir, name),
                                              vocab_file=vocab_file)
        return paths


def _sum_into(totals, sums):
    return dict(sums) if totals is None else {key: totals[key] + sums[key] for key in totals}


def train(run, dataset_fn, log_fn=print):
    """Trains until `config.train_steps`, resuming from the newest readable checkpoint; `dataset_fn(input_context,
    start_step=...)` must start its data at that step (`make_pretraining_input_fn` does). Returns the last
    metrics; on SIGTERM saves and raises `preemption.Preempted` (exit status 143)."""
    config = run.config
    start_step = run.restore()
    if start_step >= config.train_steps:
        logging.info("Already trained to step %d", start_step)
        return {}
    # `dataset_fn(input_context, start_step)` resumes the data where the checkpoint left it.
    dataset = run.strategy.distribute_datasets_from_function(
        lambda input_context: dataset_fn(input_context, start_step=start_step))
    iterator = iter(dataset)
    writer = (tf.summary.create_file_writer(os.path.join(run.model_dir, "train")) if run.is_chief
              else tf.summary.create_noop_writer())
    window, window_start = run.window_state()
    window_time = time.time()
    run_start, metrics, history = time.time(), {}, _earlier_history(run.model_dir, start_step)
    with SigtermFlag() as preemption, writer.as_default():
        while run.step < config.train_steps:
            step = run.step
            boundary = min(config.train_steps, _next_multiple(step, config.log_steps),
                           _next_multiple(step, config.save_checkpoints_steps))
            sums = run.train_steps(iterator, min(config.steps_per_execution, boundary - step))
            step = run.step
            if sums["nonfinite"] > 0:
                raise FloatingPointError(
                    f"Non-finite loss at or before step {step}: training stopped; the last checkpoint "
                    f"({tf.train.latest_checkpoint(run.model_dir) or 'none'}) was not overwritten")
            window = _sum_into(window, sums)
            if step % config.log_steps == 0 or step == config.train_steps:
                elapsed = time.time() - window_time
                metrics = metrics_from_sums(window, config.gen_weight, config.disc_weight)
                metrics["learning_rate"] = run.engine.learning_rate()
                metrics["examples_per_second"] = (step - window_start) * config.train_batch_size / elapsed
                for name, value in metrics.items():
                    tf.summary.scalar(name, value, step=step)
                writer.flush()
                rate = (step - start_step) / (time.time() - run_start)
                eta = (config.train_steps - step) / rate if rate else float("nan")
                log_fn(_progress_line(step, config.train_steps, metrics, rate, eta))
                history.append({"step": step, **{name: float(value) for name, value in metrics.items()}})
                if run.is_chief:
                    io_utils.write_json(os.path.join(run.model_dir, rundir.METRICS_FILE), history)
                window, window_start, window_time = None, step, time.time()
            if step % config.save_checkpoints_steps == 0 or step == config.train_steps or preemption.requested:
                run.set_window_state(window, window_start)
                run.save()
            if preemption.requested:
                logging.warning("Preempted at step %d: checkpoint saved, exiting with status %d (not exported)",
                                step, PREEMPTED_EXIT_STATUS)
                raise Preempted()
    return metrics


def _earlier_history(model_dir, start_step):
    """The metrics.json windows up to `start_step` (a resumed run drops those after its checkpoint)."""
    path = os.path.join(model_dir, rundir.METRICS_FILE)
    if not start_step or not tf.io.gfile.exists(path):
        return []
    return [entry for entry in io_utils.read_json(path) if entry["step"] <= start_step]


def _next_multiple(step, every):
    return (step // every + 1) * every


def _progress_line(step, total, metrics, steps_per_second, eta_seconds):
    eta = time.strftime("%H:%M:%S", time.gmtime(eta_seconds)) if np.isfinite(eta_seconds) else "?"
    return (f"step {step}/{total} ({100.0 * step / total:.1f}%) loss {metrics['loss']:.4f} "
            f"mlm_loss {metrics['masked_lm_loss']:.4f} mlm_acc {metrics['masked_lm_accuracy']:.3f} "
            f"disc_loss {metrics['disc_loss']:.4f} disc_auc {metrics['disc_auc']:.3f} "
            f"lr {metrics['learning_rate']:.2e} {steps_per_second:.2f} steps/s ETA {eta}")
