"""The fine-tuning loop: read → featurize → train epochs (custom `tf.function` step under a strategy) →
evaluate on dev after every epoch, keep the best epoch's weights → test predictions → export.

Everything written goes through `io_utils` (atomic) on `tf.io.gfile`, so `output_dir` may be `gs://...`.
"""

import dataclasses
import json
import logging
import math
import os
import time
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from electra_tf import io_utils
from electra_tf.optimization import create_optimizer


@dataclasses.dataclass
class FinetuneHparams:
    """Fine-tuning hyperparameters (defaults: the KoELECTRA v3 finetune suite)."""

    model: str = ""  # informational: which pre-trained model these settings are meant for
    max_seq_length: int = 128
    train_batch_size: int = 32
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    num_train_epochs: int = 3
    warmup_proportion: float = 0.0
    weight_decay: float = 0.0
    adam_epsilon: float = 1e-8
    adam_bias_correction: bool = False  # False: the original ELECTRA optimizer; True: PyTorch AdamW (KoELECTRA)
    max_grad_norm: float = 1.0
    lr_decay_power: float = 1.0  # 1.0 = linear decay to 0
    layerwise_lr_decay: float = 1.0  # 1.0 = off; the original ELECTRA fine-tunes with 0.8
    seed: int = 42
    doc_stride: int = 128
    max_query_length: int = 64
    max_answer_length: int = 30
    n_best_size: int = 20
    hidden_dropout_prob: Optional[float] = None  # None keeps the checkpoint's config
    attention_probs_dropout_prob: Optional[float] = None
    classifier_dropout: Optional[float] = None
    max_steps_per_epoch: Optional[int] = None  # cap (quick runs); None = the whole train split
    logging_steps: int = 50

    @classmethod
    def field_names(cls):
        return {field.name for field in dataclasses.fields(cls)}

    def to_dict(self):
        return dataclasses.asdict(self)


def _check_keys(values, where):
    unknown = sorted(set(values) - FinetuneHparams.field_names())
    if unknown:
        raise ValueError(f"{where}: unknown hyperparameter(s) {unknown}; known: "
                         f"{sorted(FinetuneHparams.field_names())}")


def load_hparams(config_path=None, task_name=None, overrides=None):
    """Defaults ← the config file's top level ← its `tasks[task_name]` section ← `overrides` (dict or JSON)."""
    values = {}
    if config_path:
        document = io_utils.read_json(config_path)
        per_task = document.pop("tasks", {}) or {}
        _check_keys(document, config_path)
        values.update(document)
        if task_name:
            from electra_tf.finetuning.tasks import canonical_name

            for key, section in per_task.items():
                if canonical_name(key) == canonical_name(task_name):
                    _check_keys(section, f"{config_path} tasks.{key}")
                    values.update(section)
    if overrides:
        if isinstance(overrides, str):
            try:
                overrides = json.loads(overrides)
            except json.JSONDecodeError as error:
                raise ValueError(f"--hparams is not valid JSON: {error}") from error
        _check_keys(overrides, "--hparams")
        values.update(overrides)
    return FinetuneHparams(**values)


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
            self.optimizer = create_optimizer(
                hparams.learning_rate, train_steps,
                warmup_steps=int(round(hparams.warmup_proportion * train_steps)),
                weight_decay_rate=hparams.weight_decay, epsilon=hparams.adam_epsilon,
                lr_decay_power=hparams.lr_decay_power, clip_norm=hparams.max_grad_norm,
                layerwise_lr_decay=hparams.layerwise_lr_decay, num_layers=model.config.num_hidden_layers,
                loss_scale=keras.mixed_precision.global_policy().name == "mixed_float16",
                bias_correction=hparams.adam_bias_correction)
            self.optimizer.build(model.trainable_variables)
        model.electra.skip_padding = not jit_compile  # see ElectraEncoder: same results, less work
        self._forward_backward = tf.function(self._forward_backward_fn, jit_compile=jit_compile)
        self._train_step = tf.function(self._train_step_fn)
        self._predict = tf.function(lambda inputs: self.model(inputs, training=False), jit_compile=jit_compile)

    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    def learning_rate(self):
        inner = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        return float(inner.learning_rate.numpy()) if hasattr(inner.learning_rate, "numpy") else float(
            inner.learning_rate)

    def _forward_backward_fn(self, inputs, labels):
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.model(inputs, training=True)
            loss = self.task.loss(labels, outputs)
            scaled = loss / self.strategy.num_replicas_in_sync
            if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
                scaled = self.optimizer.scale_loss(scaled)
        return loss, tape.gradient(scaled, variables)

    def _replica_step(self, inputs, labels):
        loss, gradients = self._forward_backward(inputs, labels)
        self.optimizer.apply(gradients, self.model.trainable_variables)
        return loss

    def _train_step_fn(self, batch):
        inputs, labels = batch
        losses = self.strategy.run(self._replica_step, args=(inputs, labels))
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


# Hooks ------------------------------------------------------------------------------------------------------------

def export_saved_model(model, export_dir, vocab_file, task, hparams):
    """Exports the fine-tuned `model` for TF Serving as `export_dir/<version>/` (see `electra_tf.serving`)."""
    from electra_tf.serving import export_saved_model as write_saved_model

    del task
    return write_saved_model(model, export_dir, vocab_file, max_length=hparams.max_seq_length)


# The whole run ----------------------------------------------------------------------------------------------------

def prediction_file_name(task):
    return "predictions.json" if task.head_type == "question_answering" else "predictions.tsv"


def load_model(init_checkpoint, task, hparams):
    """The pre-trained encoder with `task`'s head (fresh when the checkpoint lacks it)."""
    from electra_tf.pretrained import load_pretrained

    overrides = {key: getattr(hparams, key)
                 for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout")
                 if getattr(hparams, key) is not None}
    labels = task.labels
    if task.head_type == "sequence_classification" and labels is None:
        labels = ["score"]  # regression: one output
    return load_pretrained(init_checkpoint, head_type=task.head_type, network="discriminator", labels=labels,
                           config_overrides=overrides or None)


def finetune(task, hparams, init_checkpoint, data_dir, output_dir, vocab_file=None, strategy=None,
             jit_compile=False, progress=True, export=True):
    """Fine-tunes and evaluates; writes `eval_results.json`, `predictions.*`, `logs/` (TensorBoard) and, with
    `export`, the best model as a transformers directory `model/` (+ the SavedModel hook). Returns the results."""
    from electra_tf.export import export_transformers
    from electra_tf.pretrained import find_vocab
    from electra_tf.finetuning.tokenizer_adapter import TokenizerAdapter

    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(hparams.seed)
    vocab_file = vocab_file or find_vocab(init_checkpoint)
    if not vocab_file:
        raise FileNotFoundError(f"No vocab.txt beside {init_checkpoint}; pass --vocab")
    tokenizer = TokenizerAdapter.from_vocab_file(vocab_file)

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

    with strategy.scope():
        model = load_model(init_checkpoint, task, hparams)
    if hparams.max_seq_length > model.config.max_position_embeddings:
        raise ValueError(f"max_seq_length {hparams.max_seq_length} exceeds the model's max_position_embeddings "
                         f"{model.config.max_position_embeddings}")
    per_epoch = steps_per_epoch(len(features["train"]), hparams)
    tuner = FineTuner(model, task, hparams, per_epoch * hparams.num_train_epochs, strategy, jit_compile)

    tf.io.gfile.makedirs(output_dir)
    writer = tf.summary.create_file_writer(os.path.join(output_dir, "logs"))
    results = {"task": task.name, "metric": task.metric, "init_checkpoint": init_checkpoint,
               "vocab_file": vocab_file, "hparams": hparams.to_dict(), "data": report, "epochs": [],
               "selection_file": splits["dev"].path}
    results_path = os.path.join(output_dir, "eval_results.json")
    best_score, best_weights = None, None
    for epoch in range(1, hparams.num_train_epochs + 1):
        loss_sum, seen, started = 0.0, 0, time.time()
        bar = _progress_bar(per_epoch, f"epoch {epoch}/{hparams.num_train_epochs}", progress)
        for batch in tuner.train_dataset(features["train"], hparams.seed + epoch):
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
                    write_scalar("train/loss", loss)
                    write_scalar("train/learning_rate", tuner.learning_rate())
        bar.close()
        dev_metrics, _ = task.evaluate(splits["dev"].examples, features["dev"], tuner.predict(features["dev"]))
        record = {"epoch": epoch, "global_step": tuner.step, "train_loss": loss_sum / max(seen, 1),
                  "train_seconds": time.time() - started, "dev": dev_metrics}
        results["epochs"].append(record)
        with writer.as_default(step=tuner.step):
            for key, value in dev_metrics.items():
                write_scalar(f"dev/{key}", value)
        writer.flush()
        score = dev_metrics.get(task.metric)
        logging.info("Epoch %d: train loss %.4f, dev %s", epoch, record["train_loss"], _format(dev_metrics))
        if best_score is None or (score is not None and score > best_score):
            best_score, best_weights = score, tuner.get_weights()
            results["best"] = {"epoch": epoch, "dev": dev_metrics}
        io_utils.write_json(results_path, results)

    tuner.set_weights(best_weights)
    if "test" in splits:
        if splits["test"] is splits["dev"]:
            test_metrics = results["best"]["dev"]
            _, predictions = task.evaluate(splits["dev"].examples, features["dev"], tuner.predict(features["dev"]))
        else:
            test_metrics, predictions = task.evaluate(
                splits["test"].examples, features["test"], tuner.predict(features["test"]))
        results["test"] = test_metrics
        results["predictions_file"] = os.path.join(output_dir, prediction_file_name(task))
        task.write_predictions(results["predictions_file"], splits["test"].examples, predictions)
    if export:
        results["model_dir"] = export_transformers(model, os.path.join(output_dir, "model"), vocab_file=vocab_file)
        saved_model = export_saved_model(model, os.path.join(output_dir, "saved_model"), vocab_file, task, hparams)
        if saved_model:
            results["saved_model_dir"] = saved_model
    io_utils.write_json(results_path, results)
    writer.close()
    return results


# Tasks without a dev file, whose epochs are selected on the test file (the KoELECTRA suite's protocol).
_TEST_SELECTED = {"nsmc", "naver-ner"}


def write_scalar(name, value):
    """A TensorBoard scalar on the default writer, without needing the `tensorboard` package installed
    (`tf.summary.scalar` does) — the same event record with the scalars plugin's metadata."""
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    tf.summary.write(name, tf.constant(float(value), tf.float32), metadata=metadata.SerializeToString())


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
