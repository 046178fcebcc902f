"""A plan before a pre-training run: will the batch fit, with how much gradient accumulation, and how long will
the recipe take on this device? Answered with real steps on synthetic batches, before any data is read.

    python -m electra_tf.plan --config configs/pretrain/koelectra-small-v3.json [--hparams …] [--batch 256] \
        [--memory_gb 11]

prints the parameter count, the memory estimated for one step (weights, gradients and Adam's moments; the
activations), the peak memory of one real step measured on this device, the largest micro-batch whose measured
peak fits `--memory_gb` with the `gradient_accumulation_steps` that keeps the batch, and the measured time per
optimizer step and for all `train_steps`. It fails with one `error:` line when even the weights and optimizer
do not fit or no micro-batch does. On a CPU the peak is read from TensorFlow's BFC allocator, which must be
chosen before TensorFlow starts: the command then restarts itself with `TF_CPU_ALLOCATOR_USE_BFC=true`.
"""

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
from electra_tf.pretraining.config import PretrainingConfig
from electra_tf.pretraining.loop import PretrainingRun

GB = 1e9
BFC_VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"
SPECIAL_IDS = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}  # synthetic batches: the usual first five ids


def define_flags():
    """The flags of `python -m electra_tf.plan` (the training commands' `--dry_run` shares `--memory_gb`)."""
    flags.DEFINE_integer("batch", None, "Batch size (rows per optimizer step) to plan for; default: the config's.")
    flags.DEFINE_float("memory_gb", None, "Memory a step may use (GB); default: plan the config's micro-batch only.")
    flags.DEFINE_integer("timed_steps", 3, "Optimizer steps timed after the first (compiling) one.")


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


def parameter_counts(run):
    """`{"discriminator", "generator", "total"}` trainable parameters (the shared embeddings counted once in
    the total)."""
    count = lambda variables: int(sum(np.prod(v.shape) for v in variables))  # noqa: E731
    pretrainer = run.pretrainer
    return {"discriminator": count(pretrainer.discriminator.trainable_weights),
            "generator": count(pretrainer.generator.trainable_weights),
            "total": count({id(v): v for v in pretrainer.trainable_weights}.values())}


def estimate(config, discriminator_config, parameters, micro_batch, accumulation, activation_bytes=4):
    """Bytes of one step: `persistent` (float32 weights, gradients, Adam's two moments, and the accumulated
    gradients when `accumulation` > 1) and `activations` (what the backward keeps per transformer layer, after
    Korthikanti et al. 2022: s·b·h·(34 + 5·a·s/h) at 2 bytes, scaled to `activation_bytes`, for both
    networks, plus the generator's logits over the vocabulary)."""
    persistent = parameters * 4 * (4 + (accumulation > 1))
    length = config.max_seq_length
    activations = 0.0
    for network in (discriminator_config, config.generator_config(discriminator_config)):
        hidden, heads = network.hidden_size, network.num_attention_heads
        per_layer = length * micro_batch * hidden * (34 + 5 * heads * length / hidden) * activation_bytes / 2
        activations += network.num_hidden_layers * per_layer
    activations += 3 * micro_batch * config.max_predictions_per_seq * discriminator_config.vocab_size * 4
    return {"persistent": persistent, "activations": activations}


def synthetic_batch(rows, length, vocab_size, seed=0):
    """`rows` full-length [CLS] A [SEP] B [SEP] rows of random ids (what a step costs does not depend on them)."""
    ids = np.random.default_rng(seed).integers(len(SPECIAL_IDS), vocab_size, (rows, length)).astype(np.int32)
    ids[:, 0], ids[:, length // 2], ids[:, -1] = SPECIAL_IDS["cls"], SPECIAL_IDS["sep"], SPECIAL_IDS["sep"]
    segments = np.zeros_like(ids)
    segments[:, length // 2 + 1:] = 1
    return {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": segments}


def measure(config, discriminator_config, strategy, jit_compile=False, timed_steps=3):
    """Real optimizer steps of `config` (its batch and accumulation) on synthetic batches: `(peak bytes above
    what was in use before, seconds per step after the first)`; None for both when the device ran out of memory."""
    device = device_name()
    gc.collect()  # an earlier trial's run, freed now rather than during this one
    before = tf.config.experimental.get_memory_info(device)["current"]
    with tempfile.TemporaryDirectory() as model_dir:
        try:
            run = PretrainingRun(config, discriminator_config, SPECIAL_IDS, model_dir, strategy, jit_compile)
            batch = synthetic_batch(config.train_batch_size, config.max_seq_length, discriminator_config.vocab_size)
            iterator = iter(strategy.experimental_distribute_dataset(
                tf.data.Dataset.from_tensors(batch).repeat()))
            run.train_steps(iterator, 1)  # traces and compiles
            tf.config.experimental.reset_memory_stats(device)
            start = time.perf_counter()
            run.train_steps(iterator, timed_steps)
            seconds = (time.perf_counter() - start) / timed_steps
        except tf.errors.ResourceExhaustedError:
            return None, None
        return tf.config.experimental.get_memory_info(device)["peak"] - before, seconds


def micro_batches_to_try(batch, replicas):
    """Micro-batch sizes (rows per replica) that divide a replica's share of `batch`, largest first."""
    per_replica = batch // replicas
    return [size for size in range(per_replica, 0, -1) if per_replica % size == 0]


def count_parameters(config, discriminator_config):
    """`parameter_counts` of the networks `config` builds (never stepped)."""
    with tempfile.TemporaryDirectory() as model_dir:
        return parameter_counts(PretrainingRun(config, discriminator_config, SPECIAL_IDS, model_dir,
                                               tf.distribute.get_strategy()))


def check_persistent_memory(config, discriminator_config, parameters, memory_gb):
    """Raises ValueError when the weights, gradients and Adam moments alone exceed `memory_gb` (no step needed)."""
    persistent = estimate(config, discriminator_config, parameters["total"], 1, 1)["persistent"]
    if memory_gb and persistent > memory_gb * GB:
        raise ValueError(f"--memory_gb {memory_gb:g}: nothing fits: the weights, gradients and Adam moments of "
                         f"{parameters['total']:,} parameters alone take {persistent / GB:.2f} GB")


def plan(config, discriminator_config, strategy, parameters, memory_gb=None, jit_compile=False, timed_steps=3,
         log=print):
    """The plan of `config` (see the module's docstring) as a dict; raises ValueError when nothing fits."""
    replicas = strategy.num_replicas_in_sync
    batch = config.train_batch_size
    if batch % replicas:
        raise ValueError(f"--batch {batch} is not a multiple of the {replicas} replicas")
    activation_bytes = 2 if keras.mixed_precision.global_policy().compute_dtype != "float32" else 4
    budget = memory_gb * GB if memory_gb else None
    if budget:
        candidates = micro_batches_to_try(batch, replicas)
        fitting = [size for size in candidates if _total(config, discriminator_config, parameters, size,
                                                         batch // replicas // size, activation_bytes) <= budget]
        candidates = candidates[candidates.index(fitting[0]):] if fitting else candidates[-1:]
    else:
        candidates = [batch // replicas // config.gradient_accumulation_steps]
    for size in candidates:
        accumulation = batch // replicas // size
        trial = dataclasses.replace(config, gradient_accumulation_steps=accumulation)
        peak, seconds = measure(trial, discriminator_config, strategy, jit_compile, timed_steps)
        log(f"micro-batch {size} x {accumulation}: measured peak "
            f"{'out of memory' if peak is None else f'{peak / GB:.3f} GB'}")
        if peak is not None and (budget is None or peak <= budget):
            break
    else:
        raise ValueError(f"--memory_gb {memory_gb:g}: nothing fits: even micro-batches of {size} row(s) peak at "
                         f"{'more than the device has' if peak is None else f'{peak / GB:.2f} GB'}")
    estimated = estimate(config, discriminator_config, parameters["total"], size, accumulation, activation_bytes)
    return {"device": device_name(), "policy": keras.mixed_precision.global_policy().name, "replicas": replicas,
            "parameters": parameters, "batch": batch, "micro_batch": size, "gradient_accumulation_steps": accumulation,
            "estimated_bytes": estimated, "measured_peak_bytes": int(peak), "memory_gb": memory_gb,
            "seconds_per_step": seconds, "train_steps": config.train_steps,
            "recipe_seconds": seconds * config.train_steps}


def _total(config, discriminator_config, parameters, size, accumulation, activation_bytes):
    return sum(estimate(config, discriminator_config, parameters["total"], size, accumulation,
                        activation_bytes).values())


def describe(result, config_name):
    """The plan as the lines the command prints."""
    parameters, estimated = result["parameters"], result["estimated_bytes"]
    days = result["recipe_seconds"] / 86400
    lines = [
        f"plan for {config_name} on {result['device']} ({result['policy']}, {result['replicas']} replica(s))",
        f"parameters: {parameters['total']:,} (discriminator {parameters['discriminator']:,}, generator "
        f"{parameters['generator']:,}, shared embeddings counted once)",
        f"estimated per step: weights + gradients + Adam {estimated['persistent'] / GB:.3f} GB, activations "
        f"{estimated['activations'] / GB:.3f} GB",
        f"measured peak of one step: {result['measured_peak_bytes'] / GB:.3f} GB "
        f"(micro-batches of {result['micro_batch']} rows x {result['gradient_accumulation_steps']} per replica)",
    ]
    if result["memory_gb"]:
        lines.append(f"largest micro-batch within {result['memory_gb']:g} GB: {result['micro_batch']}; "
                     f"gradient_accumulation_steps {result['gradient_accumulation_steps']} keeps the batch of "
                     f"{result['batch']}")
    lines.append(f"time per optimizer step: {result['seconds_per_step']:.3f} s; all {result['train_steps']:,} "
                 f"steps: {result['recipe_seconds'] / 3600:.1f} h ({days:.1f} days)")
    lines.append(f"--hparams '{{\"train_batch_size\": {result['batch']}, \"gradient_accumulation_steps\": "
                 f"{result['gradient_accumulation_steps']}}}'")
    return lines


def plan_from_flags(values, config, vocab_size=None):
    """`plan` of `config` with the command's strategy, precision, `--batch` and `--memory_gb`; prints it. A
    configuration whose weights and optimizer alone exceed `--memory_gb` is refused before any step."""
    if values.batch:
        config = dataclasses.replace(config, train_batch_size=values.batch, gradient_accumulation_steps=1)
    discriminator_config = config.discriminator_config(vocab_size=vocab_size)
    parameters = count_parameters(config, discriminator_config)
    check_persistent_memory(config, discriminator_config, parameters, values.memory_gb)
    restart_with_memory_stats()
    strategy = distribute.strategy_from_flags(values)
    result = plan(config, discriminator_config, strategy, parameters, values.memory_gb, values.jit_compile,
                  values.timed_steps)
    print("\n".join(describe(result, values.config)), flush=True)
    return result


def main(argv):
    del argv
    config = PretrainingConfig.from_json_file(config_files.resolve(flags.FLAGS.config, "pretrain"),
                                              flags.FLAGS.hparams)
    plan_from_flags(flags.FLAGS, config)


def run():
    hparams_lib.define_flags("Pre-training preset JSON (configs/pretrain/*.json), or a preset's name.",
                             "JSON object overriding settings of --config.")
    define_flags()
    distribute.define_flags()
    flags.mark_flags_as_required(["config"])
    cli.run(main)


if __name__ == "__main__":
    run()
