"""The fine-tuning loop: a model + task + optimizer with compiled train steps (`run_kernel.StepLoop`) and
predict steps under a strategy, and the data plumbing that feeds them (length-bucketed batches of in-memory
features, `EpochBatches`). The run around it (epochs, evaluation, best checkpoint, predictions, export) is
`finetuning.run`'s.

`timer` hooks: a profiler passes an object whose `phase(name)` returns a context manager timing that phase
(`NO_TIMER` does nothing); `FineTuner` times "train steps", "predict", "train tf.data pipeline creation" and
"iterator creation".

Dropout masks are keyed (`dropout.keyed_by_example`) by (seed, example, layer): row r of the batch of
optimizer step s is example ``s · train_batch_size + r``, so a row's masks are the same whatever the split into
micro-batches or replicas, and a resumed run draws the masks of the uninterrupted one.
"""

import contextlib
import math

import numpy as np
import tensorflow as tf

from electra_tf import dropout, run_kernel
from electra_tf.finetuning import batching
from electra_tf.training_step import TrainingStep


class NoTimer:
    """The default timing hook: times nothing."""

    @staticmethod
    def phase(name):
        del name
        return contextlib.nullcontext()


NO_TIMER = NoTimer()

class FineTuner:
    """A model + task + optimizer with compiled train and predict loops under `strategy`.

    Batches are cut to the width of their longest row's length bucket (`batching`, `hparams.bucket_width`);
    each width has its own dataset, so each compiled loop is traced once per width. With `static_shapes`
    (under TPUStrategy, or whenever `jit_compile` is set) every batch of a width has one shape: the partial
    batch is filled up with rows of weight 0 and the encoder does not skip padding tokens. Train and predict
    steps run `steps_per_execution` at a time inside one `tf.function` via `strategy.run`. `traces` counts how
    often each loop function was traced.
    """

    def __init__(self, model, task, hparams, train_steps, strategy=None, jit_compile=False, timer=NO_TIMER):
        self.model = model
        self.timer = timer
        self.task = task
        self.hparams = hparams
        self.strategy = strategy or tf.distribute.get_strategy()
        self.train_steps = train_steps
        self.static_shapes = jit_compile or isinstance(self.strategy, _TPU_STRATEGIES)
        with self.strategy.scope():
            self.engine = TrainingStep(model, self._loss, jit_compile=jit_compile, **hparams.step_arguments(
                train_steps, num_layers=model.config.num_hidden_layers))
        self.optimizer = self.engine.optimizer
        model.electra.skip_padding = not self.static_shapes  # see ElectraEncoder: same results, less work
        dropout.number_layers(model)
        self._predict_traces = 0
        # dynamic shapes: a second bucket width generalizes the loops to any width instead of tracing each
        self._train_steps = run_kernel.StepLoop(self.strategy, self._replica_train_step,
                                                reduce_retracing=not self.static_shapes)
        self._predict_steps = tf.function(self._predict_steps_fn, reduce_retracing=not self.static_shapes)
        self._replica_predict = tf.function(lambda inputs: self.model(inputs, training=False),
                                            jit_compile=jit_compile)

    @property
    def step(self):
        return self.engine.step

    @property
    def traces(self):
        """How often each compiled loop was traced."""
        return {"train": self._train_steps.traces, "predict": self._predict_traces}

    def learning_rate(self):
        return self.engine.learning_rate()

    # Compiled loops ---------------------------------------------------------------------------------------------

    def _loss(self, inputs, labels, weights, examples, total_weight):
        """(this replica's share of the global weighted mean loss: what is differentiated, the same to report);
        `examples`: the rows' example numbers (consecutive), which key their dropout masks."""
        with dropout.keyed_by_example(self.hparams.seed, tf.reduce_sum(examples[:1])):  # a replica may get no rows
            outputs = self.model(inputs, training=True)
        losses = self.task.example_losses(labels, outputs)
        loss = tf.reduce_sum(losses * weights) / tf.maximum(total_weight, 1.0)
        return loss, loss

    def _replica_train_step(self, element):
        """One replica's step on `(inputs, labels, row weights, example numbers)`: its statistics (summed over
        replicas and steps by the kernel): the loss and the `run_kernel.NONFINITE` count."""
        inputs, labels, row_weights, examples = element
        weights = self.task.loss_weights(labels, row_weights)
        total_weight = tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, tf.reduce_sum(weights))
        loss = self.engine.replica_step(inputs, labels, weights, examples, total_weight)
        return {"loss": loss, run_kernel.NONFINITE: run_kernel.nonfinite(loss)}

    def _one_predict_step(self, iterator):
        outputs = self.strategy.run(self._replica_predict, args=(next(iterator),))
        return {key: self.strategy.gather(value, axis=0) for key, value in outputs.items()}

    def _predict_steps_fn(self, iterator, steps):
        self._predict_traces += 1
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
        or gradient accumulation (micro-batches of equal size) the partial batch is filled up with rows of
        weight 0."""
        hparams = self.hparams
        with self.timer.phase("train tf.data pipeline creation"):
            plan = batching.train_plan(
                epoch_order(len(features), hparams.seed, epoch), self._lengths(features), self._widths(features),
                hparams.train_batch_size, hparams.steps_per_execution, hparams.seed, epoch,
                fill=self.static_shapes or hparams.gradient_accumulation_steps > 1)
            per_epoch = steps_per_epoch(len(features), hparams)
            plan = plan[skip_steps:per_epoch]
            return self._batches(features, plan, hparams.train_batch_size,
                                 first_step=(epoch - 1) * per_epoch + skip_steps)

    def _widths(self, features):
        return batching.bucket_widths(features.inputs["input_ids"].shape[1], self.hparams.bucket_width)

    @staticmethod
    def _lengths(features):
        return batching.row_lengths(features.inputs["attention_mask"])

    def _batches(self, features, plan, batch_size, first_step=None):
        """`EpochBatches` over `plan`: per width a distributed dataset of its batches in plan order, inputs (and
        the task's `sequence_labels`) cut to the width; with `first_step` (the optimizer step of the plan's first
        batch) elements `(inputs, labels, row weights, example numbers)` with weight 0 for filler rows (row r of
        step s is example s · batch_size + r), else the inputs. Only a dynamic-shape partial batch is smaller."""
        iterators = {}
        steps = {id(batch): first_step + index for index, batch in enumerate(plan)} if first_step is not None else {}
        for width, chosen in _by_width(plan):
            rows, real, sizes = batching.stack(chosen, batch_size)
            element = {key: np.asarray(value)[rows, :width] for key, value in features.inputs.items()}
            if first_step is not None:
                labels = {key: np.asarray(value)[rows, :width] if key in self.task.sequence_labels
                          else np.asarray(value)[rows] for key, value in features.labels.items()}
                examples = (np.array([steps[id(batch)] for batch in chosen], np.int64)[:, None] * batch_size
                            + np.arange(batch_size, dtype=np.int64))
                element = (element, labels, real.astype(np.float32), examples)
            dataset = tf.data.Dataset.from_tensor_slices((element, sizes))
            if self.static_shapes:
                dataset = dataset.map(lambda element, size: element)
            else:
                dataset = dataset.map(lambda element, size: tf.nest.map_structure(lambda t: t[:size], element))
            dataset = self.distribute(dataset.prefetch(2).with_options(_IN_MEMORY))
            with self.timer.phase("iterator creation"):
                iterators[width] = iter(dataset)
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
        return self.train_statistics(batches, steps)["loss"]

    def train_statistics(self, batches, steps):
        """`train`'s statistics: {"loss": the sum of the steps' mean losses, `run_kernel.NONFINITE`: ...}."""
        with self.timer.phase("train steps"):
            runs = batches.take(steps) if isinstance(batches, EpochBatches) else [(batches, steps, None)]
            sums = [self._train_steps(iterator, count) for iterator, count, _ in runs]
            return {key: sum(float(run[key]) for run in sums) for key in ("loss", run_kernel.NONFINITE)}

    def predict(self, features):
        """The model's outputs (numpy, in row order) for every feature row, computed in length buckets; the
        task's `sequence_outputs` are padded back to the features' width with `PAD_LOGIT`."""
        with self.timer.phase("predict"):
            return self._predict(features)

    def _predict(self, features):
        count, batch_size = len(features), self.hparams.eval_batch_size
        plan = batching.eval_plan(self._lengths(features), self._widths(features), batch_size,
                                  fill=self.static_shapes)
        batches = self._batches(features, plan, batch_size)
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
