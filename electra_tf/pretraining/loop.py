"""The pre-training loop: `strategy.run` inside a `tf.function` that runs N steps per call (as Orbit does),
checkpoints (resume, preemption), TensorBoard summaries and progress lines, all over `run_kernel`. Warm starts
from released weights and the export are `pretraining.transfer`'s.

Exact resume: a checkpoint holds the model, the optimizer and the sums of the unfinished logging window; the
data order, masking, sampling and dropout are pure functions of (seed, step, example), so a run resumed at
step s starts the dataset at step s (`start_step`) and ends with the weights and metrics.json of the
uninterrupted run. SIGTERM saves and exits with `preemption.PREEMPTED_EXIT_STATUS` without exporting.
"""

import os
import time

import numpy as np
import tensorflow as tf
from absl import logging

from electra_tf import distribute, io_utils, rundir, run_kernel
from electra_tf.preemption import SigtermFlag
from electra_tf.pretraining import curves, health, masking
from electra_tf.pretraining.metrics import entropy, metrics_from_sums
from electra_tf.pretraining.model import ElectraPretrainer
from electra_tf.training_step import TrainingStep


class PretrainingRun:
    """Everything one pre-training run holds: strategy, pretrainer, optimizer, checkpoints, step functions.
    `unigram` (the shards' unigram distribution over the vocabulary, `metrics.unigram_from_counts`; None when
    unknown) turns on the health metrics that need it (`health`)."""

    def __init__(self, config, discriminator_config, special_ids, model_dir, strategy, jit_compile=False,
                 unigram=None):
        self.config = config
        self.unigram_entropy = None if unigram is None else entropy(unigram)
        self._unigram_logits = None if unigram is None else tf.constant(health.unigram_logits(unigram))
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
            self.engine = TrainingStep(self.pretrainer, self._loss, jit_compile=jit_compile,
                                       **config.step_arguments(config.train_steps))
            self.optimizer = self.engine.optimizer
        # the unfinished logging window is the run state ("window" in the checkpoint); its host variable is made
        # outside the strategy's scope (a string variable cannot be mirrored onto accelerators)
        self.checkpoints = run_kernel.RunCheckpoints(
            model_dir, config.keep_checkpoint_max, state_key="window", save_dir=self._save_dir,
            pretrainer=self.pretrainer, optimizer=self.optimizer)
        self.checkpoint, self.manager = self.checkpoints.checkpoint, self.checkpoints.manager
        self.train_steps = run_kernel.StepLoop(strategy, self._replica_step)
        self.eval_steps = run_kernel.StepLoop(strategy, self._eval_replica_step)

    @property
    def step(self):
        return self.engine.step

    def restore(self):
        """Restores the newest readable checkpoint of `model_dir` (`run_kernel.RunCheckpoints.restore`: an
        unreadable newest one is reported and the previous one tried); returns its step (0 when there is none).
        Raises OSError when there are checkpoints but none can be read."""
        if self.checkpoints.restore():
            logging.info("Resumed at step %d", self.step)
        return self.step

    def window_state(self):
        """`(sums, first_step)` of the logging window the restored checkpoint was in the middle of."""
        state = self.checkpoints.state.get()
        if not state:
            return None, self.step
        return (run_kernel.as_numpy_sums(state) or None), state["start"]

    def plateau_warned(self):
        """Whether the run had given its plateau warning by the restored checkpoint (`health.PlateauWatch`)."""
        return bool((self.checkpoints.state.get() or {}).get("plateau_warned", False))

    def set_window_state(self, sums, first_step, plateau_warned=False):
        """Records the unfinished logging window and whether the plateau warning was given (saved with the next
        checkpoint, so a resumed run warns at most once in all; JSON floats are exact)."""
        self.checkpoints.state.set({"start": int(first_step), "plateau_warned": bool(plateau_warned),
                                    **run_kernel.sums_state(sums)})

    def save(self):
        path = self.checkpoints.save(self.step)
        if not self.is_chief:
            tf.io.gfile.rmtree(self._save_dir)
            return None
        for kept in rundir.keep_series(self.model_dir, self.config.keep_checkpoint_every_n_steps):
            logging.info("Kept %s in the checkpoint series", kept)
        return path

    # Step functions -----------------------------------------------------------------------------------------

    def _seeds(self, batch):
        context = tf.distribute.get_replica_context()
        rows = batch["input_ids"].shape[0]
        first_row = tf.cast(context.replica_id_in_sync_group, tf.int64) * rows
        return masking.example_seeds(self.config.seed, self.optimizer.iterations, self.config.train_batch_size,
                                     first_row, rows)

    def _loss(self, batch, masked, seeds):
        outputs = self.pretrainer(batch, masked, seeds, training=True, unigram_logits=self._unigram_logits)
        return outputs["loss"], outputs

    def _replica_step(self, batch):
        seeds = self._seeds(batch)
        masked = self.pretrainer.mask(batch, seeds)
        outputs = self.engine.replica_step(batch, masked, seeds)
        statistics = {key: value for key, value in outputs.items() if key != "loss"}
        statistics[run_kernel.NONFINITE] = run_kernel.nonfinite(outputs["loss"])
        return statistics

    def _eval_replica_step(self, batch):
        """Held-out statistics of one batch (`batch["index"]`: its number in the pipeline): no dropout, every row
        scored on unigram fills, masks and fills keyed by (seed, record number) with negative example ids, which
        no training step uses, so every evaluation sees the same masks and fills."""
        rows = batch["input_ids"].shape[0]
        records = tf.cast(batch["index"], tf.int64) * rows + tf.range(rows, dtype=tf.int64)
        seeds = tf.stack([tf.fill([rows], tf.cast(self.config.seed, tf.int64)), -1 - records], axis=1)
        masked = self.pretrainer.mask(batch, seeds)
        outputs = self.pretrainer(batch, masked, seeds, training=False, unigram_logits=self._unigram_logits,
                                  fill_rows=rows)
        return {key: value for key, value in outputs.items() if key != "loss"}

    def evaluate(self, dataset, batches):
        """The metrics (`metrics_from_sums` and `health.health_from_sums`) of the first `batches` global batches
        of `dataset` (a distributed dataset of `eval_dataset`'s elements)."""
        sums = self.eval_steps(iter(dataset), batches)
        return {**metrics_from_sums(sums, self.config.gen_weight, self.config.disc_weight),
                **health.health_from_sums(sums, self.unigram_entropy)}


def eval_dataset(dataset_fn, input_context=None):
    """`dataset_fn(input_context)`'s batches (one pass, in order) with their number in the pipeline ("index")."""
    return dataset_fn(input_context).enumerate().map(lambda index, batch: {**batch, "index": index})


def eval_batch_count(dataset_fn, batches):
    """How many of the first `batches` global batches `dataset_fn(None)` holds; ValueError when none."""
    count = int(dataset_fn(None).take(batches).reduce(0, lambda total, _: total + 1))
    if not count:
        raise ValueError("--eval_data_dir: fewer records than train_batch_size (one batch)")
    return count


def train(run, dataset_fn, log_fn=print, eval_dataset_fn=None):
    """Trains until `config.train_steps`, resuming from the newest readable checkpoint; `dataset_fn(input_context,
    start_step=...)` must start its data at that step (`make_pretraining_input_fn` does). With `eval_dataset_fn`
    (`make_pretraining_input_fn(..., is_training=False)` of held-out shards) evaluates every `config.eval_steps`
    (default `save_checkpoints_steps`) and at the end, into MODEL_DIR/eval (TensorBoard) and eval_metrics.json.
    Draws curves.png at each checkpoint. Returns the last metrics; on SIGTERM saves and raises
    `preemption.Preempted` (exit status 143)."""
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
    sums, window_start = run.window_state()
    window = {"sums": sums, "start": window_start, "time": time.time()}
    run_start, metrics, history = time.time(), {}, _earlier_history(run.model_dir, start_step)
    evaluation = _Evaluation(run, eval_dataset_fn, start_step) if eval_dataset_fn else None
    eval_every = (config.eval_steps or config.save_checkpoints_steps) if evaluation else None
    boundaries = run_kernel.Boundaries(config.train_steps, log=config.log_steps, save=config.save_checkpoints_steps,
                                       eval=eval_every)
    plateau = health.PlateauWatch(config.train_steps, config.plateau_warning_fraction, run.plateau_warned())

    def after(step, count, sums):
        window["sums"] = run_kernel.sum_into(window["sums"], sums)
        if boundaries.due(step, "log") or step == config.train_steps:
            elapsed = time.time() - window["time"]
            metrics.clear()
            metrics.update(metrics_from_sums(window["sums"], config.gen_weight, config.disc_weight))
            metrics.update(health.health_from_sums(window["sums"], run.unigram_entropy))
            metrics["learning_rate"] = run.engine.learning_rate()
            metrics.update(run.engine.loss_scale_metrics())
            metrics["examples_per_second"] = (step - window["start"]) * config.train_batch_size / elapsed
            for name, value in metrics.items():
                tf.summary.scalar(name, value, step=step)
            writer.flush()
            rate = (step - start_step) / (time.time() - run_start)
            eta = (config.train_steps - step) / rate if rate else float("nan")
            log_fn(_progress_line(step, config.train_steps, metrics, rate, eta))
            log_fn(health.describe(metrics))
            plateau.check(step, metrics)
            history.append({"step": step, **{name: float(value) for name, value in metrics.items()}})
            if run.is_chief:
                io_utils.write_json(os.path.join(run.model_dir, rundir.METRICS_FILE), history)
            window.update(sums=None, start=step, time=time.time())
        if evaluation and (boundaries.due(step, "eval") or step == config.train_steps):
            log_fn(evaluation(step))

        def save():
            run.set_window_state(window["sums"], window["start"], plateau.warned)
            run.save()
            if run.is_chief:
                curves.plot_run(run.model_dir, {"train": history,
                                                "held-out": evaluation.history if evaluation else []})

        run_kernel.save_and_stop(preemption, boundaries.due(step, "save") or step == config.train_steps, save,
                                 step)

    def last_checkpoint():
        return (f"; the last checkpoint ({tf.train.latest_checkpoint(run.model_dir) or 'none'}) was not "
                "overwritten")

    with SigtermFlag() as preemption, writer.as_default():
        run_kernel.drive(boundaries, config.steps_per_execution, lambda: run.step,
                         lambda count: run.train_steps(iterator, count), after, last_checkpoint)
    return metrics


class _Evaluation:
    """Held-out evaluation during training: `__call__(step)` evaluates, writes the scalars to MODEL_DIR/eval and
    eval_metrics.json (those after the restored checkpoint redone, as metrics.json's), and returns a log line."""

    def __init__(self, run, dataset_fn, start_step):
        self.run = run
        self.batches = eval_batch_count(dataset_fn, run.config.eval_batches)
        self.dataset = run.strategy.distribute_datasets_from_function(
            lambda input_context: eval_dataset(dataset_fn, input_context))
        self.history = _earlier_history(run.model_dir, start_step, rundir.EVAL_METRICS_FILE)
        self.writer = (tf.summary.create_file_writer(os.path.join(run.model_dir, "eval")) if run.is_chief
                       else tf.summary.create_noop_writer())

    def __call__(self, step):
        metrics = self.run.evaluate(self.dataset, self.batches)
        with self.writer.as_default():
            for name, value in metrics.items():
                tf.summary.scalar(name, value, step=step)
        self.writer.flush()
        self.history.append({"step": step, **{name: float(value) for name, value in metrics.items()}})
        if self.run.is_chief:
            io_utils.write_json(os.path.join(self.run.model_dir, rundir.EVAL_METRICS_FILE), self.history)
        return (f"held-out at step {step} ({self.batches} batches): loss {metrics['loss']:.4f} "
                f"disc_auc {metrics['disc_auc']:.3f}; {health.describe(metrics)}")


def _earlier_history(model_dir, start_step, name=rundir.METRICS_FILE):
    """The windows of MODEL_DIR/`name` up to `start_step` (a resumed run drops those after its checkpoint)."""
    path = os.path.join(model_dir, name)
    if not start_step or not tf.io.gfile.exists(path):
        return []
    return [entry for entry in io_utils.read_json(path) if entry["step"] <= start_step]


def _progress_line(step, total, metrics, steps_per_second, eta_seconds):
    eta = time.strftime("%H:%M:%S", time.gmtime(eta_seconds)) if np.isfinite(eta_seconds) else "?"
    return (f"step {step}/{total} ({100.0 * step / total:.1f}%) loss {metrics['loss']:.4f} "
            f"mlm_loss {metrics['masked_lm_loss']:.4f} mlm_acc {metrics['masked_lm_accuracy']:.3f} "
            f"disc_loss {metrics['disc_loss']:.4f} disc_auc {metrics['disc_auc']:.3f} "
            f"lr {metrics['learning_rate']:.2e} {steps_per_second:.2f} steps/s ETA {eta}")
