"""A fine-tuning run: read → featurize → train epochs (`finetuning.loop.FineTuner` over `run_kernel`) →
evaluate on dev after every epoch, keep the best epoch's weights → test predictions → export.

Everything written goes through `io_utils` (atomic) on `tf.io.gfile`, so `output_dir` may be `gs://...`.
A profiler passes `timer` (see `finetuning.loop`); the run times "epoch", "train_epoch (whole)", "checkpoint
save", "checkpoint save_best", "checkpoint restore_best", "eval_results.json writes", "one_class_warning",
"task.evaluate (metrics)", "progress bar" and "predict_test (after training)".
"""

import logging
import os
import time

import keras
import numpy as np
import tensorflow as tf

from electra_tf import distribute, io_utils, run_kernel
from electra_tf.export import export_transformers
from electra_tf.finetuning.checkpoints import FinetuneCheckpoints
from electra_tf.finetuning.loop import NO_TIMER, FineTuner, steps_per_epoch
from electra_tf.preemption import Preempted, SigtermFlag
from electra_tf.pretrained import find_vocab, load_pretrained
from electra_tf.serving import export_saved_model
from electra_tf.tokenization import host_tokenizer

# Tasks without a dev file, whose epochs are selected on the test file (the KoELECTRA suite's protocol).
_TEST_SELECTED = {"nsmc", "naver-ner"}


def finetune(task, hparams, init_checkpoint, data_dir, output_dir, vocab_file=None, strategy=None,
             jit_compile=False, progress=True, export=True, timer=NO_TIMER):
    """Fine-tunes and evaluates; writes `eval_results.json`, `predictions.*`, `logs/` (TensorBoard) and, with
    `export`, the best model as a transformers directory `model/` and a SavedModel `saved_model/<version>/`.
    Returns the results."""
    return FinetuneRun(task, hparams, init_checkpoint, data_dir, output_dir, vocab_file, strategy, jit_compile,
                       progress, export, timer).run()


class FinetuneRun:
    """One fine-tuning run's settings and, once `run` builds them, its tuner, checkpoints and results."""

    def __init__(self, task, hparams, init_checkpoint, data_dir, output_dir, vocab_file=None, strategy=None,
                 jit_compile=False, progress=True, export=True, timer=NO_TIMER):
        self.task, self.hparams, self.init_checkpoint = task, hparams, init_checkpoint
        self.data_dir, self.output_dir, self.vocab_file = data_dir, output_dir, vocab_file
        self.strategy = strategy or tf.distribute.get_strategy()
        self.jit_compile, self.progress, self.export, self.timer = jit_compile, progress, export, timer
        self.tuner = None

    def run(self):
        """The whole run (resuming from OUTPUT_DIR/checkpoints); returns the results."""
        task, hparams, output_dir, timer = self.task, self.hparams, self.output_dir, self.timer
        keras.utils.set_random_seed(hparams.seed)
        vocab_file = resolve_vocab(self.init_checkpoint, self.vocab_file)
        splits = read_splits(task, self.data_dir)
        features, report = featurize_splits(task, splits, host_tokenizer(vocab_file), hparams)
        distribute.log_strategy(self.strategy)
        self.tuner = tuner = build_tuner(task, hparams, self.init_checkpoint, len(features["train"]),
                                         self.strategy, self.jit_compile, timer)
        tf.io.gfile.makedirs(output_dir)
        results = {"task": task.name, "metric": task.metric, "init_checkpoint": self.init_checkpoint,
                   "vocab_file": vocab_file, "hparams": hparams.to_dict(), "data": report, "epochs": [],
                   "selection_file": splits["dev"].path}
        results_path = os.path.join(output_dir, "eval_results.json")
        writer = tf.summary.create_file_writer(os.path.join(output_dir, "logs"))
        checkpoints = FinetuneCheckpoints(tuner.model, tuner.optimizer, output_dir, timer=timer)
        resumed = checkpoints.restore()
        if resumed:
            results["epochs"] = resumed["epochs"]
            if resumed["best"]:
                results["best"] = resumed["best"]
        self.splits, self.features, self.results, self.results_path = splits, features, results, results_path
        self.writer, self.checkpoints = writer, checkpoints
        self.train_and_select(resumed)
        checkpoints.restore_best()
        if "test" in splits:
            with timer.phase("predict_test (after training)"):
                results.update(predict_test(tuner, task, splits, features, results["best"]["dev"], output_dir))
        if self.export:
            results.update(export_model(tuner.model, output_dir, vocab_file, hparams))
        _write_results(results_path, results, timer)
        writer.close()
        return results

    def train_and_select(self, resumed=None):
        """Trains every epoch, evaluates on dev after each (recorded in the results, saved to
        eval_results.json), keeps the weights of the epoch with the best dev `task.metric` (the first epoch's
        when none has it) in the checkpoints' best slot. Checkpoints after every epoch and every
        `save_checkpoints_steps`; continues the `resumed` state (what `checkpoints.restore` returned); on SIGTERM
        saves and raises `Preempted`."""
        tuner, task, hparams, results, timer = self.tuner, self.task, self.hparams, self.results, self.timer
        dev_examples, dev_features = self.splits["dev"].examples, self.features["dev"]
        per_epoch = steps_per_epoch(len(self.features["train"]), hparams)
        best_score = results.get("best", {}).get("dev", {}).get(task.metric)
        loss_sum = (resumed or {}).get("loss_sum", 0.0)
        with SigtermFlag() as preemption:
            while tuner.step < per_epoch * hparams.num_train_epochs:
                with timer.phase("epoch"):
                    epoch = tuner.step // per_epoch + 1
                    started = time.time()
                    train_loss = train_epoch(tuner, self.features["train"], epoch, self.writer, self.progress,
                                             self.checkpoints, results, preemption, loss_sum)
                    loss_sum = 0.0
                    with timer.phase("task.evaluate (metrics)"):
                        dev_metrics, dev_predictions = task.evaluate(dev_examples, dev_features,
                                                                     tuner.predict(dev_features))
                    record = {"epoch": epoch, "global_step": tuner.step, "train_loss": train_loss,
                              "train_seconds": time.time() - started, "dev": dev_metrics,
                              **tuner.engine.loss_scale_metrics()}
                    with timer.phase("one_class_warning"):
                        collapsed = one_class_warning(task, dev_examples, dev_predictions, hparams.learning_rate)
                    if collapsed:
                        logging.warning("Epoch %d: %s", epoch, collapsed)
                        record["warning"] = collapsed
                    results["epochs"].append(record)
                    with self.writer.as_default(step=tuner.step):
                        for key, value in dev_metrics.items():
                            tf.summary.scalar(f"dev/{key}", value)
                    self.writer.flush()
                    score = dev_metrics.get(task.metric)
                    logging.info("Epoch %d: train loss %.4f, dev %s", epoch, train_loss, _format(dev_metrics))
                    if "best" not in results or best_score is None or (score is not None and score > best_score):
                        best_score = score
                        self.checkpoints.save_best()  # before the checkpoint that names this epoch the best
                        results["best"] = {"epoch": epoch, "dev": dev_metrics}
                    self.checkpoints.save(tuner.step, _run_state(results, 0.0))
                    _write_results(self.results_path, results, timer)
                if preemption.requested:
                    raise Preempted()


def resolve_vocab(init_checkpoint, vocab_file=None):
    """`vocab_file`, else the vocab.txt beside the checkpoint."""
    vocab_file = vocab_file or find_vocab(init_checkpoint)
    if not vocab_file:
        raise FileNotFoundError(f"No vocab.txt beside {init_checkpoint}; pass --vocab")
    return vocab_file


def read_splits(task, data_dir):
    """{"train", "dev"[, "test"]} → the task's data; "test" *is* the "dev" object when both name one file."""
    task.prepare(data_dir)
    splits = {"train": task.read(data_dir, "train")}
    dev_path = task.split_path(data_dir, "dev")
    if task.splits.get("dev") is None and task.name in _TEST_SELECTED:
        logging.info("Task %s has no dev file: epochs are selected on %s, as the KoELECTRA suite does",
                     task.name, dev_path)
    splits["dev"] = task.read(data_dir, "dev")
    test_path = task.split_path(data_dir, "test") if task.has_split(data_dir, "test") else None
    if test_path and test_path != dev_path:
        splits["test"] = task.read(data_dir, "test")
    elif test_path:
        splits["test"] = splits["dev"]
    return splits


def featurize_splits(task, splits, tokenizer, hparams):
    """The model inputs of every split, and a per-split report (rows, features, truncated inputs)."""
    features, report = {}, {}
    for name, data in splits.items():
        if name == "test" and data is splits["dev"]:
            features["test"] = features["dev"]
            report["test"] = report["dev"]
            continue
        features[name] = task.featurize(data.examples, tokenizer, hparams, training=name == "train")
        report[name] = {**data.report(), "features": len(features[name]), "truncated": features[name].truncated}
        if features[name].truncated:
            logging.warning("%s: %d of %d inputs were longer than max_seq_length %d (or max_query_length) and "
                            "were truncated", data.path, features[name].truncated, len(data.examples),
                            hparams.max_seq_length)
    return features, report


def build_tuner(task, hparams, init_checkpoint, num_train_features, strategy, jit_compile, timer=NO_TIMER):
    """The pre-trained model with `task`'s head and an optimizer scheduled over all epochs."""
    with strategy.scope():
        model = load_model(init_checkpoint, task, hparams)
    train_steps = steps_per_epoch(num_train_features, hparams) * hparams.num_train_epochs
    return tuner_for(model, task, hparams, train_steps, strategy, jit_compile, timer)


def tuner_for(model, task, hparams, train_steps, strategy, jit_compile=False, timer=NO_TIMER):
    """A `FineTuner` of `model` (built under `strategy`'s scope) whose optimizer is scheduled over
    `train_steps`; raises ValueError when `max_seq_length` exceeds the model's positions."""
    if hparams.max_seq_length > model.config.max_position_embeddings:
        raise ValueError(f"max_seq_length {hparams.max_seq_length} exceeds the model's max_position_embeddings "
                         f"{model.config.max_position_embeddings}")
    return FineTuner(model, task, hparams, train_steps, strategy, jit_compile, timer)


def load_model(init_checkpoint, task, hparams):
    """The pre-trained encoder with `task`'s head (fresh when the checkpoint lacks it)."""
    labels, overrides = head_settings(task, hparams)
    return load_pretrained(init_checkpoint, head_type=task.head_type, network="discriminator", labels=labels,
                           config_overrides=overrides)


def head_settings(task, hparams):
    """`(labels, config_overrides)` of `task`'s model: the head's ordered label names (None for a head without
    labels) and the dropout rates `hparams` set (None when it sets none). Raises ValueError for a
    classification task whose labels are still to be collected from its train file (`task.prepare`)."""
    overrides = {key: getattr(hparams, key)
                 for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout")
                 if getattr(hparams, key) is not None}
    labels = task.labels
    if task.head_type == "sequence_classification" and labels is None:
        if not task.regression:
            raise ValueError(f"--task {task.name} reads its labels from the train file, which has not been read: "
                             "give them with --labels")
        labels = ["score"]  # regression: one output
    return labels, overrides or None


def _run_state(results, loss_sum):
    """What a checkpoint records besides weights: the epoch records so far, the best epoch, the running
    epoch's loss sum."""
    return {"epochs": results["epochs"], "best": results.get("best"), "loss_sum": loss_sum}


def one_class_warning(task, examples, predictions, learning_rate):
    """The advice to give when a classification task's predictions are all one class while the gold labels are
    not (the usual sign of a learning rate too high for the model: it collapses to the majority class); None
    otherwise."""
    if task.head_type != "sequence_classification" or not task.labels or len(task.labels) < 2:
        return None
    predicted = set(np.asarray(predictions).reshape(-1).tolist())
    gold = {example.label for example in examples if example.label is not None}
    if len(predicted) != 1 or len(gold) < 2:
        return None
    label = task.labels[int(predicted.pop())]
    advice = ("is probably too high for this model; try 1e-4 … 5e-5" if learning_rate > 1e-4 else
              "may be too low or the training too short for this model; try more epochs or 1e-4")
    return (f"all {len(predictions)} dev predictions are class {label!r}: the learning rate ({learning_rate:g}) "
            f"{advice}")


def train_epoch(tuner, train_features, epoch, writer, progress, checkpoints, results, preemption, loss_sum=0.0):
    """The rest of epoch `epoch` (at most `steps_per_epoch` steps; a resumed run continues at its step with the
    epoch's `loss_sum` so far) over `run_kernel.drive`, `steps_per_execution` steps per call, with TensorBoard
    scalars; checkpoints every `save_checkpoints_steps` and on SIGTERM (then raises `Preempted`). Returns the
    epoch's mean training loss."""
    hparams, timer = tuner.hparams, tuner.timer
    per_epoch = steps_per_epoch(len(train_features), hparams)
    first, end = (epoch - 1) * per_epoch, epoch * per_epoch
    batches = tuner.train_dataset(train_features, epoch, tuner.step - first)
    with timer.phase("progress bar"):
        bar = _progress_bar(per_epoch, f"epoch {epoch}/{hparams.num_train_epochs}", progress, timer)
        bar.update(tuner.step - first)
    boundaries = run_kernel.Boundaries(end, log=hparams.log_steps, save=hparams.save_checkpoints_steps)
    losses = {"sum": loss_sum}

    def after(step, count, sums):
        loss = sums["loss"]
        losses["sum"] += loss
        bar.update(count)
        bar.set_postfix(loss=f"{losses['sum'] / (step - first):.4f}")
        if boundaries.due(step, "log") or step == end:
            with writer.as_default(step=step):
                tf.summary.scalar("train/loss", loss / count)
                tf.summary.scalar("train/learning_rate", tuner.learning_rate())
                for key, value in tuner.engine.loss_scale_metrics().items():
                    tf.summary.scalar(f"train/{key}", value)
        if step < end:
            run_kernel.save_and_stop(preemption, boundaries.due(step, "save"),
                                     lambda: checkpoints.save(step, _run_state(results, losses["sum"])), step)

    with timer.phase("train_epoch (whole)"):
        run_kernel.drive(boundaries, hparams.steps_per_execution, lambda: tuner.step,
                         lambda count: tuner.train_statistics(batches, count), after)
        bar.close()
    return losses["sum"] / max(per_epoch, 1)


def predict_test(tuner, task, splits, features, best_dev_metrics, output_dir):
    """Test metrics and the predictions file (when the test split is the dev file, the best epoch's dev
    metrics stand as its test metrics)."""
    if splits["test"] is splits["dev"]:
        test_metrics = best_dev_metrics
        _, predictions = task.evaluate(splits["dev"].examples, features["dev"], tuner.predict(features["dev"]))
    else:
        test_metrics, predictions = task.evaluate(
            splits["test"].examples, features["test"], tuner.predict(features["test"]))
    predictions_file = os.path.join(output_dir, prediction_file_name(task))
    task.write_predictions(predictions_file, splits["test"].examples, predictions)
    task.write_submission(output_dir, splits["test"].examples, predictions)
    return {"test": test_metrics, "predictions_file": predictions_file}


def prediction_file_name(task):
    return "predictions.json" if task.head_type == "question_answering" else "predictions.tsv"


def export_model(model, output_dir, vocab_file, hparams):
    """The model as a transformers directory `model/` and a TF Serving SavedModel `saved_model/<version>/`."""
    return {"model_dir": export_transformers(model, os.path.join(output_dir, "model"), vocab_file=vocab_file),
            "saved_model_dir": export_saved_model(model, os.path.join(output_dir, "saved_model"), vocab_file,
                                                  max_length=hparams.max_seq_length,
                                                  bucket_width=hparams.bucket_width or hparams.max_seq_length,
                                                  windows=serving_windows(model, hparams))}


def serving_windows(model, hparams):
    """The SavedModel's (stride, pooling) for a sequence classifier fine-tuned with `long_text: windows`."""
    if hparams.long_text != "windows" or model.head_type != "sequence_classification":
        return None
    return hparams.window_stride, hparams.window_pooling


def _write_results(path, results, timer):
    with timer.phase("eval_results.json writes"):
        io_utils.write_json(path, results)


def _format(values):
    return ", ".join(f"{key} {value:.4f}" for key, value in sorted(values.items()))


class _NoBar:
    def update(self, count):
        pass

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


class _TimedBar:
    """A progress bar whose calls are timed as "progress bar"."""

    def __init__(self, bar, timer):
        self._bar, self._timer = bar, timer

    def update(self, count):
        with self._timer.phase("progress bar"):
            self._bar.update(count)

    def set_postfix(self, **kwargs):
        with self._timer.phase("progress bar"):
            self._bar.set_postfix(**kwargs)

    def close(self):
        with self._timer.phase("progress bar"):
            self._bar.close()


def _progress_bar(total, description, enabled, timer=NO_TIMER):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    bar = tqdm(total=total, desc=description, unit="step", dynamic_ncols=True)
    return bar if timer is NO_TIMER else _TimedBar(bar, timer)
