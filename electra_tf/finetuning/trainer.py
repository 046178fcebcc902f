"""The fine-tuning loop: read → featurize → train epochs (custom `tf.function` step under a strategy) →
evaluate on dev after every epoch, keep the best epoch's weights → test predictions → export.

Everything written goes through `io_utils` (atomic) on `tf.io.gfile`, so `output_dir` may be `gs://...`.
"""

import logging
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from electra_tf import io_utils
from electra_tf.export import export_transformers
from electra_tf.finetuning import batching
from electra_tf.finetuning.checkpoints import FinetuneCheckpoints
from electra_tf.finetuning.tokenizer_adapter import TokenizerAdapter
from electra_tf.preemption import Preempted, SigtermFlag
from electra_tf.pretrained import find_vocab, load_pretrained
from electra_tf.serving import export_saved_model
from electra_tf.training_step import TrainingStep


# The training loop ---------------------------------------------------------------------------------------------

class FineTuner:
    """A model + task + optimizer with compiled train and predict loops under `strategy`.

    Batches are cut to the width of their longest row's length bucket (`batching`, `hparams.bucket_width`);
    each width has its own dataset, so each compiled loop is traced once per width. With `static_shapes`
    (under TPUStrategy, or whenever `jit_compile` is set) every batch of a width has one shape: the partial
    batch is filled up with rows of weight 0 and the encoder does not skip padding tokens. Train and predict
    steps run `steps_per_execution` at a time inside one `tf.function` via `strategy.run`. `traces` counts how
    often each loop function was traced.
    """

    def __init__(self, model, task, hparams, train_steps, strategy=None, jit_compile=False):
        self.model = model
        self.task = task
        self.hparams = hparams
        self.strategy = strategy or tf.distribute.get_strategy()
        self.train_steps = train_steps
        self.static_shapes = jit_compile or isinstance(self.strategy, _TPU_STRATEGIES)
        with self.strategy.scope():
            self.engine = TrainingStep(
                model, self._loss, jit_compile=jit_compile, learning_rate=hparams.learning_rate,
                train_steps=train_steps, warmup_steps=int(round(hparams.warmup_proportion * train_steps)),
                weight_decay_rate=hparams.weight_decay, epsilon=hparams.adam_epsilon,
                lr_decay_power=hparams.lr_decay_power, clip_norm=hparams.max_grad_norm,
                layerwise_lr_decay=hparams.layerwise_lr_decay, num_layers=model.config.num_hidden_layers,
                bias_correction=hparams.adam_bias_correction)
        self.optimizer = self.engine.optimizer
        model.electra.skip_padding = not self.static_shapes  # see ElectraEncoder: same results, less work
        self.traces = {"train": 0, "predict": 0}
        # dynamic shapes: a second bucket width generalizes the loops to any width instead of tracing each
        self._train_steps = tf.function(self._train_steps_fn, reduce_retracing=not self.static_shapes)
        self._predict_steps = tf.function(self._predict_steps_fn, reduce_retracing=not self.static_shapes)
        self._replica_predict = tf.function(lambda inputs: self.model(inputs, training=False),
                                            jit_compile=jit_compile)

    @property
    def step(self):
        return self.engine.step

    def learning_rate(self):
        return self.engine.learning_rate()

    # Compiled loops ---------------------------------------------------------------------------------------------

    def _loss(self, inputs, labels, weights, total_weight):
        """(this replica's share of the global weighted mean loss: what is differentiated, the same to report)"""
        losses = self.task.example_losses(labels, self.model(inputs, training=True))
        loss = tf.reduce_sum(losses * weights) / tf.maximum(total_weight, 1.0)
        return loss, loss

    def _replica_train_step(self, inputs, labels, row_weights):
        weights = self.task.loss_weights(labels, row_weights)
        total_weight = tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, tf.reduce_sum(weights))
        return self.engine.replica_step(inputs, labels, weights, total_weight)

    def _one_train_step(self, iterator):
        losses = self.strategy.run(self._replica_train_step, args=next(iterator))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    def _train_steps_fn(self, iterator, steps):
        self.traces["train"] += 1  # Python side effect: runs once per trace
        total = self._one_train_step(iterator)
        for _ in tf.range(steps - 1):
            total += self._one_train_step(iterator)
        return total

    def _one_predict_step(self, iterator):
        outputs = self.strategy.run(self._replica_predict, args=(next(iterator),))
        return {key: self.strategy.gather(value, axis=0) for key, value in outputs.items()}

    def _predict_steps_fn(self, iterator, steps):
        self.traces["predict"] += 1
        first = self._one_predict_step(iterator)
        arrays = {key: tf.TensorArray(value.dtype, size=0, dynamic_size=True, infer_shape=False).write(0, value)
                  for key, value in first.items()}
        for index in tf.range(1, steps):
            outputs = self._one_predict_step(iterator)
            arrays = {key: array.write(index, outputs[key]) for key, array in arrays.items()}
        return {key: array.concat() for key, array in arrays.items()}

    # Data -------------------------------------------------------------------------------------------------------

    def train_dataset(self, features, epoch, skip_steps=0):
        """Epoch `epoch`'s batches (`EpochBatches` in the order of `batching.train_plan`, a function of
        (seed, epoch) only) from batch `skip_steps` on, at most `steps_per_epoch` in all; with `static_shapes`
        the partial batch is filled up with rows of weight 0."""
        hparams = self.hparams
        plan = batching.train_plan(
            epoch_order(len(features), hparams.seed, epoch), self._lengths(features), self._widths(features),
            hparams.train_batch_size, hparams.steps_per_execution, hparams.seed, epoch, fill=self.static_shapes)
        plan = plan[skip_steps:steps_per_epoch(len(features), hparams)]
        return self._batches(features, plan, hparams.train_batch_size, labelled=True)

    def _widths(self, features):
        return batching.bucket_widths(features.inputs["input_ids"].shape[1], self.hparams.bucket_width)

    @staticmethod
    def _lengths(features):
        return batching.row_lengths(features.inputs["attention_mask"])

    def _batches(self, features, plan, batch_size, labelled):
        """`EpochBatches` over `plan`: per width a distributed dataset of its batches in plan order, inputs (and
        the task's `sequence_labels`) cut to the width; `labelled`: elements `(inputs, labels, row weights)`
        with weight 0 for filler rows, else the inputs. Only a dynamic-shape partial batch is smaller."""
        iterators = {}
        for width, chosen in _by_width(plan):
            rows, real, sizes = batching.stack(chosen, batch_size)
            element = {key: np.asarray(value)[rows, :width] for key, value in features.inputs.items()}
            if labelled:
                labels = {key: np.asarray(value)[rows, :width] if key in self.task.sequence_labels
                          else np.asarray(value)[rows] for key, value in features.labels.items()}
                element = (element, labels, real.astype(np.float32))
            dataset = tf.data.Dataset.from_tensor_slices((element, sizes))
            if self.static_shapes:
                dataset = dataset.map(lambda element, size: element)
            else:
                dataset = dataset.map(lambda element, size: tf.nest.map_structure(lambda t: t[:size], element))
            iterators[width] = iter(self.distribute(dataset.prefetch(2).with_options(_IN_MEMORY)))
        return EpochBatches(plan, iterators)

    def distribute(self, dataset):
        """`dataset` for the compiled loops: distributed over the replicas, except under a one-replica strategy on
        the CPU (the CLI's default `one_device`), where there is no device to prefetch to and the distributed
        iterator's teardown (a MultiDeviceIterator) took up to tens of seconds after every epoch and predict."""
        if _one_cpu_replica(self.strategy):
            return dataset
        return self.strategy.experimental_distribute_dataset(dataset)

    # Steps ------------------------------------------------------------------------------------------------------

    def train(self, batches, steps):
        """Runs the next `steps` optimizer steps of `batches` (`EpochBatches`: one compiled call per run of
        equal-width batches; or a distributed iterator of batches); returns the sum of their mean losses."""
        runs = batches.take(steps) if isinstance(batches, EpochBatches) else [(batches, steps, None)]
        return sum(float(self._train_steps(iterator, tf.constant(count, tf.int32)).numpy())
                   for iterator, count, _ in runs)

    def predict(self, features):
        """The model's outputs (numpy, in row order) for every feature row, computed in length buckets; the
        task's `sequence_outputs` are padded back to the features' width with `PAD_LOGIT`."""
        count, batch_size = len(features), self.hparams.eval_batch_size
        plan = batching.eval_plan(self._lengths(features), self._widths(features), batch_size,
                                  fill=self.static_shapes)
        batches = self._batches(features, plan, batch_size, labelled=False)
        full_width = features.inputs["input_ids"].shape[1]
        outputs = {}
        while len(batches):
            for iterator, steps, chosen in batches.take(self.hparams.steps_per_execution):
                rows = np.concatenate([batch.rows for batch in chosen])
                real = rows != batching.FILL
                for key, value in self._predict_steps(iterator, tf.constant(steps, tf.int32)).items():
                    value = value.numpy()[real]
                    if key in self.task.sequence_outputs:
                        value = _pad_tokens(value, full_width)
                    if key not in outputs:
                        outputs[key] = np.empty((count,) + value.shape[1:], value.dtype)
                    outputs[key][rows[real]] = value
        return outputs

    def get_weights(self):
        return [variable.numpy() for variable in self.model.weights]

    def set_weights(self, values):
        for variable, value in zip(self.model.weights, values):
            variable.assign(value)


# Batches come from arrays in memory: nothing for tf.data's autotuner to tune, and with it on, deleting each
# iterator (one per bucket width, every epoch and predict) waits for the autotuning thread.
_IN_MEMORY = tf.data.Options()
_IN_MEMORY.autotune.enabled = False

_TPU_STRATEGIES = (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy)


def _one_cpu_replica(strategy):
    """Whether `strategy` runs a single replica on the CPU (TF's default strategy included)."""
    if strategy.num_replicas_in_sync != 1 or isinstance(strategy, _TPU_STRATEGIES):
        return False
    try:
        devices = strategy.extended.worker_devices
    except RuntimeError:  # TF's default strategy has no devices of its own: it runs where ops are placed
        return not tf.config.list_logical_devices("GPU")
    return all(tf.DeviceSpec.from_string(device).device_type == "CPU" for device in devices)


# The logit given to positions beyond a batch's width when outputs are padded back to max_seq_length: below any
# real logit, so such positions rank last (the QA decoder ranks real tokens only and the tagging metric reads
# word positions only, so no metric changes with the width).
PAD_LOGIT = -1e9


class EpochBatches:
    """Planned batches (`batching.Batch` list) served in plan order from one distributed iterator per width.
    `take(count)` hands out the next `count` as runs `(iterator, steps, batches)` of one width; iterating
    yields each remaining batch's element (for inspection)."""

    def __init__(self, plan, iterators):
        self.plan = plan
        self.iterators = iterators
        self.position = 0

    def __len__(self):
        return len(self.plan) - self.position

    def take(self, count):
        chosen = self.plan[self.position:self.position + count]
        self.position += len(chosen)
        return [(self.iterators[width], len(group), group) for width, group in batching.runs(chosen)]

    def __iter__(self):
        while len(self):
            [(iterator, _, _)] = self.take(1)
            yield next(iterator)


def _by_width(plan):
    """`[(width, [Batch, ...])]`: the batches of each width, in plan order."""
    groups = {}
    for batch in plan:
        groups.setdefault(batch.width, []).append(batch)
    return sorted(groups.items())


def _pad_tokens(values, width):
    """`values` ([rows, w, ...]) padded on axis 1 to `width` with `PAD_LOGIT`."""
    padding = [(0, 0), (0, width - values.shape[1])] + [(0, 0)] * (values.ndim - 2)
    return np.pad(values, padding, constant_values=PAD_LOGIT)


def epoch_order(count, seed, epoch):
    """The training order of `count` rows in epoch `epoch`: a pure function of (seed, epoch) and TF's global seed
    (`finetune` sets it to `seed`), so a resumed run sees the same batches. It is the order the earlier
    `Dataset.shuffle(seed=seed + epoch)` pipeline gave."""
    indices = tf.data.Dataset.range(count).shuffle(count, seed=seed + epoch, reshuffle_each_iteration=False)
    return next(iter(indices.batch(max(count, 1)))).numpy()


def steps_per_epoch(num_features, hparams):
    steps = math.ceil(num_features / hparams.train_batch_size)
    if hparams.max_steps_per_epoch:
        steps = min(steps, hparams.max_steps_per_epoch)
    return steps


# The whole run ----------------------------------------------------------------------------------------------------

# Tasks without a dev file, whose epochs are selected on the test file (the KoELECTRA suite's protocol).
_TEST_SELECTED = {"nsmc", "naver-ner"}


def finetune(task, hparams, init_checkpoint, data_dir, output_dir, vocab_file=None, strategy=None,
             jit_compile=False, progress=True, export=True):
    """Fine-tunes and evaluates; writes `eval_results.json`, `predictions.*`, `logs/` (TensorBoard) and, with
    `export`, the best model as a transformers directory `model/` and a SavedModel `saved_model/<version>/`.
    Returns the results."""
    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(hparams.seed)
    vocab_file = resolve_vocab(init_checkpoint, vocab_file)
    splits = read_splits(task, data_dir)
    features, report = featurize_splits(task, splits, TokenizerAdapter.from_vocab_file(vocab_file), hparams)
    tuner = build_tuner(task, hparams, init_checkpoint, len(features["train"]), strategy, jit_compile)
    tf.io.gfile.makedirs(output_dir)
    results = {"task": task.name, "metric": task.metric, "init_checkpoint": init_checkpoint,
               "vocab_file": vocab_file, "hparams": hparams.to_dict(), "data": report, "epochs": [],
               "selection_file": splits["dev"].path}
    results_path = os.path.join(output_dir, "eval_results.json")
    writer = tf.summary.create_file_writer(os.path.join(output_dir, "logs"))
    checkpoints = FinetuneCheckpoints(tuner.model, tuner.optimizer, output_dir)
    resumed = checkpoints.restore()
    if resumed:
        results["epochs"] = resumed["epochs"]
        if resumed["best"]:
            results["best"] = resumed["best"]
    train_and_select(tuner, task, splits, features, results, results_path, writer, progress, checkpoints,
                     resumed)
    checkpoints.restore_best()
    if "test" in splits:
        results.update(predict_test(tuner, task, splits, features, results["best"]["dev"], output_dir))
    if export:
        results.update(export_model(tuner.model, output_dir, vocab_file, hparams))
    io_utils.write_json(results_path, results)
    writer.close()
    return results


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


def build_tuner(task, hparams, init_checkpoint, num_train_features, strategy, jit_compile):
    """The pre-trained model with `task`'s head and an optimizer scheduled over all epochs."""
    with strategy.scope():
        model = load_model(init_checkpoint, task, hparams)
    if hparams.max_seq_length > model.config.max_position_embeddings:
        raise ValueError(f"max_seq_length {hparams.max_seq_length} exceeds the model's max_position_embeddings "
                         f"{model.config.max_position_embeddings}")
    train_steps = steps_per_epoch(num_train_features, hparams) * hparams.num_train_epochs
    return FineTuner(model, task, hparams, train_steps, strategy, jit_compile)


def load_model(init_checkpoint, task, hparams):
    """The pre-trained encoder with `task`'s head (fresh when the checkpoint lacks it)."""
    overrides = {key: getattr(hparams, key)
                 for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout")
                 if getattr(hparams, key) is not None}
    labels = task.labels
    if task.head_type == "sequence_classification" and labels is None:
        labels = ["score"]  # regression: one output
    return load_pretrained(init_checkpoint, head_type=task.head_type, network="discriminator", labels=labels,
                           config_overrides=overrides or None)


def train_and_select(tuner, task, splits, features, results, results_path, writer, progress, checkpoints,
                     resumed=None):
    """Trains every epoch, evaluates on dev after each (recorded in `results`, saved to `results_path`), keeps
    the weights of the epoch with the best dev `task.metric` (the first epoch's when none has it) in
    `checkpoints`' best slot. Checkpoints after every epoch and every `save_steps`; continues the `resumed` state
    (what `checkpoints.restore` returned); on SIGTERM saves and raises `Preempted`."""
    hparams = tuner.hparams
    per_epoch = steps_per_epoch(len(features["train"]), hparams)
    best_score = results.get("best", {}).get("dev", {}).get(task.metric)
    loss_sum = (resumed or {}).get("loss_sum", 0.0)
    with SigtermFlag() as preemption:
        while tuner.step < per_epoch * hparams.num_train_epochs:
            epoch = tuner.step // per_epoch + 1
            started = time.time()
            train_loss = train_epoch(tuner, features["train"], epoch, writer, progress, checkpoints, results,
                                     preemption, loss_sum)
            loss_sum = 0.0
            dev_metrics, dev_predictions = task.evaluate(splits["dev"].examples, features["dev"],
                                                         tuner.predict(features["dev"]))
            record = {"epoch": epoch, "global_step": tuner.step, "train_loss": train_loss,
                      "train_seconds": time.time() - started, "dev": dev_metrics}
            collapsed = one_class_warning(task, splits["dev"].examples, dev_predictions, hparams.learning_rate)
            if collapsed:
                logging.warning("Epoch %d: %s", epoch, collapsed)
                record["warning"] = collapsed
            results["epochs"].append(record)
            with writer.as_default(step=tuner.step):
                for key, value in dev_metrics.items():
                    tf.summary.scalar(f"dev/{key}", value)
            writer.flush()
            score = dev_metrics.get(task.metric)
            logging.info("Epoch %d: train loss %.4f, dev %s", epoch, train_loss, _format(dev_metrics))
            if "best" not in results or best_score is None or (score is not None and score > best_score):
                best_score = score
                checkpoints.save_best()  # before the checkpoint that names this epoch the best
                results["best"] = {"epoch": epoch, "dev": dev_metrics}
            checkpoints.save(tuner.step, _run_state(results, 0.0))
            io_utils.write_json(results_path, results)
            if preemption.requested:
                raise Preempted()


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
    epoch's `loss_sum` so far), `steps_per_execution` steps per call, with TensorBoard scalars; checkpoints
    every `save_steps` and on SIGTERM (then raises `Preempted`). Returns the epoch's mean training loss."""
    hparams = tuner.hparams
    per_epoch = steps_per_epoch(len(train_features), hparams)
    done = tuner.step - (epoch - 1) * per_epoch
    batches = tuner.train_dataset(train_features, epoch, done)
    bar = _progress_bar(per_epoch, f"epoch {epoch}/{hparams.num_train_epochs}", progress)
    bar.update(done)
    while done < per_epoch:
        step = tuner.step
        boundary = min((epoch - 1) * per_epoch + per_epoch, _next_multiple(step, hparams.logging_steps),
                       _next_multiple(step, hparams.save_steps or per_epoch))
        count = min(hparams.steps_per_execution, boundary - step)
        loss = tuner.train(batches, count)
        if not math.isfinite(loss):
            raise FloatingPointError(f"Loss became {loss} at or before step {tuner.step}")
        loss_sum += loss
        done += count
        bar.update(count)
        bar.set_postfix(loss=f"{loss_sum / done:.4f}")
        if tuner.step % hparams.logging_steps == 0 or done == per_epoch:
            with writer.as_default(step=tuner.step):
                tf.summary.scalar("train/loss", loss / count)
                tf.summary.scalar("train/learning_rate", tuner.learning_rate())
        if done < per_epoch and (preemption.requested or
                                 (hparams.save_steps and tuner.step % hparams.save_steps == 0)):
            checkpoints.save(tuner.step, _run_state(results, loss_sum))
            if preemption.requested:
                raise Preempted()
    bar.close()
    return loss_sum / max(per_epoch, 1)


def _next_multiple(step, every):
    return (step // every + 1) * every


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
                                                  bucket_width=hparams.bucket_width or hparams.max_seq_length)}


def _format(values):
    return ", ".join(f"{key} {value:.4f}" for key, value in sorted(values.items()))


class _NoBar:
    def update(self, count):
        pass

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        pass


def _progress_bar(total, description, enabled):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="step", dynamic_ncols=True)
