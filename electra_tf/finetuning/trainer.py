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
from electra_tf.finetuning.tokenizer_adapter import TokenizerAdapter
from electra_tf.pretrained import find_vocab, load_pretrained
from electra_tf.serving import export_saved_model
from electra_tf.training_step import TrainingStep


# The training loop ---------------------------------------------------------------------------------------------

class FineTuner:
    """A model + task + optimizer with compiled train and predict steps under `strategy`."""

    def __init__(self, model, task, hparams, train_steps, strategy=None, jit_compile=False):
        self.model = model
        self.task = task
        self.hparams = hparams
        self.strategy = strategy or tf.distribute.get_strategy()
        self.train_steps = train_steps
        with self.strategy.scope():
            self.engine = TrainingStep(
                model, self._loss, jit_compile=jit_compile, learning_rate=hparams.learning_rate,
                train_steps=train_steps, warmup_steps=int(round(hparams.warmup_proportion * train_steps)),
                weight_decay_rate=hparams.weight_decay, epsilon=hparams.adam_epsilon,
                lr_decay_power=hparams.lr_decay_power, clip_norm=hparams.max_grad_norm,
                layerwise_lr_decay=hparams.layerwise_lr_decay, num_layers=model.config.num_hidden_layers,
                bias_correction=hparams.adam_bias_correction)
        self.optimizer = self.engine.optimizer
        model.electra.skip_padding = not jit_compile  # see ElectraEncoder: same results, less work
        self._train_step = tf.function(self._train_step_fn)
        self._predict = tf.function(lambda inputs: self.model(inputs, training=False), jit_compile=jit_compile)

    @property
    def step(self):
        return self.engine.step

    def learning_rate(self):
        return self.engine.learning_rate()

    def _loss(self, inputs, labels):
        """(the loss to differentiate: this replica's share of the batch mean, the batch mean loss)"""
        loss = self.task.loss(labels, self.model(inputs, training=True))
        return loss / self.strategy.num_replicas_in_sync, loss

    def _train_step_fn(self, batch):
        inputs, labels = batch
        losses = self.strategy.run(self.engine.replica_step, args=(inputs, labels))
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

    def train_dataset(self, features, epoch_seed):
        dataset = tf.data.Dataset.from_tensor_slices((features.inputs, features.labels))
        dataset = dataset.shuffle(len(features), seed=epoch_seed, reshuffle_each_iteration=False)
        dataset = dataset.batch(self.hparams.train_batch_size).prefetch(tf.data.AUTOTUNE)
        return self.strategy.experimental_distribute_dataset(dataset)

    def train_step(self, batch):
        return self._train_step(batch)

    def predict(self, features):
        """The model's outputs (numpy, concatenated over batches) for every feature row."""
        dataset = tf.data.Dataset.from_tensor_slices(features.inputs).batch(self.hparams.eval_batch_size)
        chunks = {}
        for inputs in dataset.prefetch(tf.data.AUTOTUNE):
            for key, value in self._predict(inputs).items():
                chunks.setdefault(key, []).append(value.numpy())
        return {key: np.concatenate(value) for key, value in chunks.items()}

    def get_weights(self):
        return [variable.numpy() for variable in self.model.weights]

    def set_weights(self, values):
        for variable, value in zip(self.model.weights, values):
            variable.assign(value)


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
    best_weights = train_and_select(tuner, task, splits, features, results, results_path, writer, progress)
    tuner.set_weights(best_weights)
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


def train_and_select(tuner, task, splits, features, results, results_path, writer, progress):
    """Trains every epoch, evaluates on dev after each (recorded in `results`, saved to `results_path`);
    returns the weights of the epoch with the best dev `task.metric` (the first epoch's when none has it)."""
    hparams = tuner.hparams
    best_score, best_weights = None, None
    for epoch in range(1, hparams.num_train_epochs + 1):
        started = time.time()
        train_loss = train_epoch(tuner, features["train"], epoch, writer, progress)
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
        if best_score is None or (score is not None and score > best_score):
            best_score, best_weights = score, tuner.get_weights()
            results["best"] = {"epoch": epoch, "dev": dev_metrics}
        io_utils.write_json(results_path, results)
    return best_weights


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


def train_epoch(tuner, train_features, epoch, writer, progress):
    """One epoch (at most `steps_per_epoch` steps) with TensorBoard scalars; returns the mean training loss."""
    hparams = tuner.hparams
    per_epoch = steps_per_epoch(len(train_features), hparams)
    loss_sum, seen = 0.0, 0
    bar = _progress_bar(per_epoch, f"epoch {epoch}/{hparams.num_train_epochs}", progress)
    for batch in tuner.train_dataset(train_features, hparams.seed + epoch):
        if seen >= per_epoch:
            break
        loss = float(tuner.train_step(batch).numpy())
        if not math.isfinite(loss):
            raise FloatingPointError(f"Loss became {loss} at step {tuner.step}")
        loss_sum += loss
        seen += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        if tuner.step % hparams.logging_steps == 0 or seen == per_epoch:
            with writer.as_default(step=tuner.step):
                tf.summary.scalar("train/loss", loss)
                tf.summary.scalar("train/learning_rate", tuner.learning_rate())
    bar.close()
    return loss_sum / max(seen, 1)


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
                                                  max_length=hparams.max_seq_length)}


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
