"""A plan before a training run: will the batch fit, with how much gradient accumulation, and how long will
the run take on this device? Answered with real optimizer steps on synthetic batches, before any data is read.

    python -m electra_tf.plan --config configs/pretrain/koelectra-small-v3.json [--hparams …] [--batch 256] \
        [--memory_gb 11]
    python -m electra_tf.plan --task nsmc --config configs/finetune/koelectra-small-v3.json [--hparams …] \
        [--batch 32] [--memory_gb 4] [--train_examples 150000]

(`--task` makes it a fine-tuning plan: the config is then a fine-tuning one and the model is its `model`
preset.) Prints the parameter count, the memory estimated for one step (weights, gradients and Adam's moments;
the activations), the peak memory of one real step measured on this device, the largest micro-batch whose
measured peak fits `--memory_gb` with the `gradient_accumulation_steps` that keeps the batch, and the measured
time per optimizer step and for the whole run. It fails with one `error:` line when even the weights and
optimizer do not fit or no micro-batch does. What is built and stepped is a kind's run builder
(`Pretraining`, `Finetuning`); the search, the measurement and the report are shared. On a CPU the peak is
read from TensorFlow's BFC allocator, which must be chosen before TensorFlow starts: the command then restarts
itself with `TF_CPU_ALLOCATOR_USE_BFC=true`.
"""

import contextlib
import dataclasses
import gc
import os
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import flags

from electra_tf import cli, config_files, distribute
from electra_tf import hparams as hparams_lib
from electra_tf.config import ElectraConfig
from electra_tf.finetuning.config import load_hparams
from electra_tf.finetuning.loop import steps_per_epoch
from electra_tf.finetuning.run import head_settings, tuner_for
from electra_tf.finetuning.tasks import get_task
from electra_tf.models import build_model
from electra_tf.pretrained import read_config
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.pretraining.loop import PretrainingRun

GB = 1e9
BFC_VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"
SPECIAL_IDS = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}  # synthetic batches: the usual first five ids


def define_flags():
    """The flags of `python -m electra_tf.plan` that the training commands' `--dry_run` shares."""
    flags.DEFINE_integer("batch", None, "Batch size (rows per optimizer step) to plan for; default: the config's.")
    flags.DEFINE_float("memory_gb", None, "Memory a step may use (GB); default: plan the config's micro-batch only.")
    flags.DEFINE_integer("timed_steps", 3, "Optimizer steps timed after the first (compiling) one.")


def define_finetuning_flags():
    """The flags a fine-tuning plan adds (`python -m electra_tf.plan --task …`, `run_finetuning.py --dry_run`)."""
    flags.DEFINE_integer("train_examples", None, "Fine-tuning: training examples (features, for windowed tasks) "
                         "per epoch, for the whole run's time; without it only the time per step is given.",
                         lower_bound=1)


def device_name():
    """The device whose memory is measured: the first GPU, else the CPU."""
    return "GPU:0" if tf.config.list_logical_devices("GPU") else "CPU:0"


def restart_with_memory_stats():
    """On a CPU without the BFC allocator (no memory statistics), restarts this command with it chosen."""
    if tf.config.list_physical_devices("GPU") or os.environ.get(BFC_VARIABLE) == "true":
        return
    os.environ[BFC_VARIABLE] = "true"
    main_module = getattr(sys.modules["__main__"], "__spec__", None)
    command = ["-m", main_module.name] if main_module else [sys.argv[0]]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable] + command + sys.argv[1:])


def count_parameters(variables):
    """The number of values in `variables` (each variable counted once)."""
    return int(sum(np.prod(v.shape) for v in {id(v): v for v in variables}.values()))


def persistent_bytes(parameters, accumulation):
    """float32 weights, gradients and Adam's two moments of `parameters`, and the accumulated gradients when
    `accumulation` > 1."""
    return parameters * 4 * (4 + (accumulation > 1))


def encoder_activations(network, length, rows, activation_bytes):
    """Bytes the backward keeps of `network`'s (an `ElectraConfig`) transformer layers for `rows` × `length`
    tokens: after Korthikanti et al. 2022, s·b·h·(34 + 5·a·s/h) per layer at 2 bytes, scaled to
    `activation_bytes`."""
    hidden, heads = network.hidden_size, network.num_attention_heads
    per_layer = length * rows * hidden * (34 + 5 * heads * length / hidden) * activation_bytes / 2
    return network.num_hidden_layers * per_layer


def synthetic_batch(rows, length, vocab_size, seed=0):
    """`rows` full-length [CLS] A [SEP] B [SEP] rows of random ids (what a step costs does not depend on them)."""
    ids = np.random.default_rng(seed).integers(len(SPECIAL_IDS), vocab_size, (rows, length)).astype(np.int32)
    ids[:, 0], ids[:, length // 2], ids[:, -1] = SPECIAL_IDS["cls"], SPECIAL_IDS["sep"], SPECIAL_IDS["sep"]
    segments = np.zeros_like(ids)
    segments[:, length // 2 + 1:] = 1
    return {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": segments}


class Pretraining:
    """The run builder of a pre-training plan: `config` (a `PretrainingConfig`) with its discriminator's
    `ElectraConfig`."""

    def __init__(self, config, discriminator_config, name=None):
        self.config, self.discriminator_config, self.name = config, discriminator_config, name
        self.batch, self.accumulation = config.train_batch_size, config.gradient_accumulation_steps
        self.train_steps, self.steps_text = config.train_steps, f"{config.train_steps:,} steps"
        self._parameters = None

    def with_batch(self, batch):
        """This plan for batches of `batch` rows (without accumulation)."""
        return Pretraining(dataclasses.replace(self.config, train_batch_size=batch, gradient_accumulation_steps=1),
                           self.discriminator_config, self.name)

    def parameters(self):
        """`{"total", "discriminator", "generator"}` trainable parameters (the shared embeddings counted once in
        the total), of networks built here and never stepped."""
        if self._parameters is None:
            with tempfile.TemporaryDirectory() as model_dir:
                pretrainer = PretrainingRun(self.config, self.discriminator_config, SPECIAL_IDS, model_dir,
                                            tf.distribute.get_strategy()).pretrainer
                self._parameters = {"total": count_parameters(pretrainer.trainable_weights),
                                    "discriminator": count_parameters(pretrainer.discriminator.trainable_weights),
                                    "generator": count_parameters(pretrainer.generator.trainable_weights)}
        return self._parameters

    @staticmethod
    def parameters_text(parameters):
        """The report's breakdown of `parameters` (after the total)."""
        return (f"discriminator {parameters['discriminator']:,}, generator {parameters['generator']:,}, shared "
                "embeddings counted once")

    def estimate(self, micro_batch, accumulation, activation_bytes=4):
        """Bytes of one step: `persistent` (`persistent_bytes`) and `activations` (`encoder_activations` of both
        networks, plus the generator's logits over the vocabulary)."""
        config, discriminator = self.config, self.discriminator_config
        activations = sum(encoder_activations(network, config.max_seq_length, micro_batch, activation_bytes)
                          for network in (discriminator, config.generator_config(discriminator)))
        activations += 3 * micro_batch * config.max_predictions_per_seq * discriminator.vocab_size * 4
        return {"persistent": persistent_bytes(self.parameters()["total"], accumulation),
                "activations": activations}

    @contextlib.contextmanager
    def stepper(self, accumulation, strategy, jit_compile=False):
        """A fresh run with `accumulation` micro-batches per step, fed synthetic batches: yields
        `steps(count)`, which runs `count` optimizer steps."""
        config = dataclasses.replace(self.config, gradient_accumulation_steps=accumulation)
        with tempfile.TemporaryDirectory() as model_dir:
            run = PretrainingRun(config, self.discriminator_config, SPECIAL_IDS, model_dir, strategy, jit_compile)
            batch = synthetic_batch(config.train_batch_size, config.max_seq_length,
                                    self.discriminator_config.vocab_size)
            iterator = iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch).repeat()))
            yield lambda count: run.train_steps(iterator, count)


class Finetuning:
    """The run builder of a fine-tuning plan: `task` trained with `hparams` (`FinetuneHparams`) on a
    discriminator of `model_config` (freshly initialised: a step costs the same whatever the weights) with the
    task's head; `train_examples` per epoch, when known, give the run's length."""

    def __init__(self, task, hparams, model_config, train_examples=None, name=None):
        labels, overrides = head_settings(task, hparams)
        model_config = model_config.replace(**(overrides or {}))
        self.model_config = model_config.with_labels(labels) if labels is not None else model_config
        self.task, self.hparams, self.train_examples, self.name = task, hparams, train_examples, name
        self.batch, self.accumulation = hparams.train_batch_size, hparams.gradient_accumulation_steps
        self.train_steps = self.steps_text = None
        if train_examples:
            per_epoch = steps_per_epoch(train_examples, hparams)
            self.train_steps = per_epoch * hparams.num_train_epochs
            self.steps_text = (f"{self.train_steps:,} steps ({hparams.num_train_epochs} epochs x {per_epoch:,}, rows "
                               f"of the full {hparams.max_seq_length} tokens)")
        self._parameters = None

    def with_batch(self, batch):
        """This plan for batches of `batch` rows (without accumulation)."""
        hparams = dataclasses.replace(self.hparams, train_batch_size=batch, gradient_accumulation_steps=1)
        return Finetuning(self.task, hparams, self.model_config, self.train_examples, self.name)

    def _model(self):
        return build_model(self.model_config, self.task.head_type)

    def parameters(self):
        """`{"total", "encoder", "head"}` trainable parameters of the model, built here and never stepped."""
        if self._parameters is None:
            model = self._model()
            total, encoder = count_parameters(model.trainable_weights), count_parameters(
                model.electra.trainable_weights)
            self._parameters = {"total": total, "encoder": encoder, "head": total - encoder}
        return self._parameters

    @staticmethod
    def parameters_text(parameters):
        """The report's breakdown of `parameters` (after the total)."""
        return f"encoder {parameters['encoder']:,}, head {parameters['head']:,}"

    def estimate(self, micro_batch, accumulation, activation_bytes=4):
        """Bytes of one step: `persistent` (`persistent_bytes`) and `activations` (`encoder_activations`; the
        head's outputs are left out, a few per cent at most)."""
        return {"persistent": persistent_bytes(self.parameters()["total"], accumulation),
                "activations": encoder_activations(self.model_config, self.hparams.max_seq_length, micro_batch,
                                                   activation_bytes)}

    def synthetic_element(self, seed=0):
        """One full batch as the fine-tuning step takes it: `(inputs, labels, row weights, example numbers)`,
        every row `max_seq_length` tokens long (the widest length bucket), the task's labels of their shapes."""
        rows, length = self.hparams.train_batch_size, self.hparams.max_seq_length
        batch = synthetic_batch(rows, length, self.model_config.vocab_size, seed)
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["input_mask"],
                  "token_type_ids": batch["segment_ids"]}
        labels = self.task.synthetic_labels(rows, length, np.random.default_rng(seed))
        return inputs, labels, np.ones(rows, np.float32), np.arange(rows, dtype=np.int64)

    @contextlib.contextmanager
    def stepper(self, accumulation, strategy, jit_compile=False):
        """A fresh `FineTuner` with `accumulation` micro-batches per step, fed `synthetic_element`s: yields
        `steps(count)`, which runs `count` optimizer steps."""
        hparams = dataclasses.replace(self.hparams, gradient_accumulation_steps=accumulation)
        with strategy.scope():
            model = self._model()
        tuner = tuner_for(model, self.task, hparams, self.train_steps or 1, strategy, jit_compile)
        iterator = iter(tuner.distribute(tf.data.Dataset.from_tensors(self.synthetic_element()).repeat()))
        yield lambda count: tuner.train(iterator, count)


def measure(builder, accumulation, strategy, jit_compile=False, timed_steps=3):
    """Real optimizer steps of `builder`'s run with `accumulation` micro-batches per step: `(peak bytes above
    what was in use before the run was built, seconds per step after the first)`; None for both when the device
    ran out of memory."""
    device = device_name()
    gc.collect()  # an earlier trial's run, freed now rather than during this one
    before = tf.config.experimental.get_memory_info(device)["current"]
    try:
        with builder.stepper(accumulation, strategy, jit_compile) as steps:
            steps(1)  # traces and compiles
            tf.config.experimental.reset_memory_stats(device)
            start = time.perf_counter()
            steps(timed_steps)
            seconds = (time.perf_counter() - start) / timed_steps
            return tf.config.experimental.get_memory_info(device)["peak"] - before, seconds
    except tf.errors.ResourceExhaustedError:
        return None, None


def micro_batches_to_try(batch, replicas):
    """Micro-batch sizes (rows per replica) that divide a replica's share of `batch`, largest first."""
    per_replica = batch // replicas
    return [size for size in range(per_replica, 0, -1) if per_replica % size == 0]


def check_persistent_memory(builder, memory_gb):
    """Raises ValueError when the weights, gradients and Adam moments alone exceed `memory_gb` (no step needed)."""
    parameters = builder.parameters()["total"]
    persistent = persistent_bytes(parameters, 1)
    if memory_gb and persistent > memory_gb * GB:
        raise ValueError(f"--memory_gb {memory_gb:g}: nothing fits: the weights, gradients and Adam moments of "
                         f"{parameters:,} parameters alone take {persistent / GB:.2f} GB")


def plan(builder, strategy, memory_gb=None, jit_compile=False, timed_steps=3, log=print):
    """The plan of `builder`'s run (`Pretraining`, `Finetuning`; see the module's docstring) as a dict; raises
    ValueError when nothing fits."""
    replicas = strategy.num_replicas_in_sync
    batch = builder.batch
    if batch % replicas:
        raise ValueError(f"--batch {batch} is not a multiple of the {replicas} replicas")
    activation_bytes = 2 if keras.mixed_precision.global_policy().compute_dtype != "float32" else 4
    budget = memory_gb * GB if memory_gb else None

    def estimated_total(size):
        return sum(builder.estimate(size, batch // replicas // size, activation_bytes).values())

    if budget:
        candidates = micro_batches_to_try(batch, replicas)
        fitting = [size for size in candidates if estimated_total(size) <= budget]
        candidates = candidates[candidates.index(fitting[0]):] if fitting else candidates[-1:]
    else:
        candidates = [batch // replicas // builder.accumulation]
    for size in candidates:
        accumulation = batch // replicas // size
        peak, seconds = measure(builder, accumulation, strategy, jit_compile, timed_steps)
        log(f"micro-batch {size} x {accumulation}: measured peak "
            f"{'out of memory' if peak is None else f'{peak / GB:.3f} GB'}")
        if peak is not None and (budget is None or peak <= budget):
            break
    else:
        raise ValueError(f"--memory_gb {memory_gb:g}: nothing fits: even micro-batches of {size} row(s) peak at "
                         f"{'more than the device has' if peak is None else f'{peak / GB:.2f} GB'}")
    return {"device": device_name(), "policy": keras.mixed_precision.global_policy().name, "replicas": replicas,
            "parameters": builder.parameters(), "batch": batch, "micro_batch": size,
            "gradient_accumulation_steps": accumulation,
            "estimated_bytes": builder.estimate(size, accumulation, activation_bytes),
            "measured_peak_bytes": int(peak), "memory_gb": memory_gb, "seconds_per_step": seconds,
            "train_steps": builder.train_steps,
            "run_seconds": seconds * builder.train_steps if builder.train_steps else None}


def describe(result, builder):
    """The plan (`plan`'s result for `builder`) as the lines the command prints."""
    parameters, estimated = result["parameters"], result["estimated_bytes"]
    lines = [
        f"plan for {builder.name} on {result['device']} ({result['policy']}, {result['replicas']} replica(s))",
        f"parameters: {parameters['total']:,} ({builder.parameters_text(parameters)})",
        f"estimated per step: weights + gradients + Adam {estimated['persistent'] / GB:.3f} GB, activations "
        f"{estimated['activations'] / GB:.3f} GB",
        f"measured peak of one step: {result['measured_peak_bytes'] / GB:.3f} GB "
        f"(micro-batches of {result['micro_batch']} rows x {result['gradient_accumulation_steps']} per replica)",
    ]
    if result["memory_gb"]:
        lines.append(f"largest micro-batch within {result['memory_gb']:g} GB: {result['micro_batch']}; "
                     f"gradient_accumulation_steps {result['gradient_accumulation_steps']} keeps the batch of "
                     f"{result['batch']}")
    step = f"time per optimizer step: {result['seconds_per_step']:.3f} s"
    if result["run_seconds"] is None:
        lines.append(f"{step}; the whole run's time needs --train_examples (training examples per epoch)")
    else:
        lines.append(f"{step}; all {builder.steps_text}: {_duration(result['run_seconds'])}")
    lines.append(f"--hparams '{{\"train_batch_size\": {result['batch']}, \"gradient_accumulation_steps\": "
                 f"{result['gradient_accumulation_steps']}}}'")
    return lines


def _duration(seconds):
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h ({seconds / 86400:.1f} days)"


def plan_from_flags(values, builder):
    """`plan` of `builder` with the command's strategy, precision, `--batch` and `--memory_gb`; prints it. A
    configuration whose weights and optimizer alone exceed `--memory_gb` is refused before any step."""
    if values.batch:
        builder = builder.with_batch(values.batch)
    check_persistent_memory(builder, values.memory_gb)
    restart_with_memory_stats()
    strategy = distribute.strategy_from_flags(values)
    result = plan(builder, strategy, values.memory_gb, values.jit_compile, values.timed_steps)
    print("\n".join(describe(result, builder)), flush=True)
    return result


def pretraining(values, config, vocab_size=None):
    """The `Pretraining` builder of `config` (a `PretrainingConfig`) for the command's `--config`."""
    return Pretraining(config, config.discriminator_config(vocab_size=vocab_size), values.config)


def finetuning(values, task, hparams, init_checkpoint=None):
    """The `Finetuning` builder of `task` with `hparams` for the command's `--config` and `--train_examples`:
    the model's shape is `init_checkpoint`'s when it holds a model, else the config's `model` preset."""
    try:
        model_config = read_config(init_checkpoint) if init_checkpoint else None
        model = f"the model of {init_checkpoint}"
    except FileNotFoundError:
        model_config, model = None, f"--init_checkpoint {init_checkpoint} holds no model"
    if model_config is None:
        if not hparams.model:
            raise ValueError(f"--config {values.config}: no \"model\" preset to plan for"
                             + (f" ({model})" if init_checkpoint else ""))
        model_config = ElectraConfig.from_preset(hparams.model)
        model = f"the {hparams.model} preset" + (f"; {model}" if init_checkpoint else "")
    return Finetuning(task, hparams, model_config, values.train_examples,
                      f"{values.config} (task {task.name}, {model})")


def main(argv):
    del argv
    values = flags.FLAGS
    if values.task:
        hparams = load_hparams(config_files.resolve(values.config, "finetune"), values.task, values.hparams)
        builder = finetuning(values, get_task(values.task), hparams)
    else:
        config = PretrainingConfig.from_json_file(config_files.resolve(values.config, "pretrain"), values.hparams)
        builder = pretraining(values, config)
    plan_from_flags(values, builder)


def run():
    hparams_lib.define_flags("Pre-training preset JSON (configs/pretrain/*.json), or with --task a fine-tuning one "
                             "(configs/finetune/*.json); or a preset's name.",
                             "JSON object overriding settings of --config.")
    flags.DEFINE_string("task", None, "Plan fine-tuning on this task (e.g. nsmc) instead of pre-training.")
    define_flags()
    define_finetuning_flags()
    distribute.define_flags()
    flags.mark_flags_as_required(["config"])
    cli.run(main)


if __name__ == "__main__":
    run()
