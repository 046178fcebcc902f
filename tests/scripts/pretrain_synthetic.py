"""Runs a few pre-training steps on synthetic packed examples under a chosen strategy; prints JSON results.

Used by the distributed tests in subprocesses (logical devices and TF_CONFIG must be set before TensorFlow
starts). Usage: pretrain_synthetic.py STRATEGY MODEL_DIR [STEPS] [WEIGHTS_NPZ] [GRADIENT_ACCUMULATION_STEPS]
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

strategy_name, model_dir = sys.argv[1], sys.argv[2]
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 1
weights_file = sys.argv[4] if len(sys.argv) > 4 else None
accumulation = int(sys.argv[5]) if len(sys.argv) > 5 else 1

if strategy_name != "multi_worker_mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from electra_tf.pretraining.config import PretrainingConfig  # noqa: E402
from electra_tf.pretraining.loop import PretrainingRun  # noqa: E402
from electra_tf.pretraining.metrics import metrics_from_sums  # noqa: E402

GLOBAL_BATCH, LENGTH, VOCAB = 8, 32, 300


def make_batch():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, VOCAB, (GLOBAL_BATCH, LENGTH)).astype(np.int32)
    ids[:, 0], ids[:, LENGTH // 2], ids[:, -1] = 2, 3, 3
    ids[1::2, -6:] = 0
    ids[1::2, -7] = 3
    segments = np.zeros_like(ids)
    segments[:, LENGTH // 2 + 1:] = 1
    segments[ids == 0] = 0
    return {"input_ids": ids, "input_mask": (ids != 0).astype(np.int32), "segment_ids": segments}


def dataset_fn(context):
    batch = make_batch()
    rows = context.get_per_replica_batch_size(GLOBAL_BATCH)
    replicas_here = context.num_replicas_in_sync // context.num_input_pipelines
    first = context.input_pipeline_id * rows * replicas_here
    pieces = [{key: value[first + r * rows:first + (r + 1) * rows] for key, value in batch.items()}
              for r in range(replicas_here)]
    return tf.data.Dataset.from_tensor_slices(
        {key: np.stack([piece[key] for piece in pieces]) for key in batch}).repeat()


strategies = {
    "one_device": lambda: tf.distribute.OneDeviceStrategy("/cpu:0"),
    "mirrored": lambda: tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
    "multi_worker_mirrored": tf.distribute.MultiWorkerMirroredStrategy,
}
os.makedirs(model_dir, exist_ok=True)
strategy = strategies[strategy_name]()
# Dropout draws from per-replica stateful generators, so it is off for an exact comparison.
config = PretrainingConfig(model_preset="tiny", generator_hidden_size=0.5,
                           model_overrides={"vocab_size": VOCAB, "hidden_dropout_prob": 0.0,
                                            "attention_probs_dropout_prob": 0.0},
                           max_seq_length=LENGTH, train_batch_size=GLOBAL_BATCH, train_steps=100, warmup_steps=0,
                           learning_rate=1e-3, gradient_accumulation_steps=accumulation)
run = PretrainingRun(config, config.discriminator_config(), {"pad": 0, "cls": 2, "sep": 3, "mask": 4},
                     model_dir, strategy)
variables = run.pretrainer.weights
if weights_file and os.path.exists(weights_file):
    saved = np.load(weights_file)
    for index, variable in enumerate(variables):
        variable.assign(saved[f"w{index}"])
elif weights_file:
    np.savez(weights_file, **{f"w{index}": variable.numpy() for index, variable in enumerate(variables)})
iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
losses = []
for _ in range(steps):
    sums = run.train_steps(iterator, 1)
    losses.append(metrics_from_sums(sums, config.gen_weight, config.disc_weight)["loss"])
run.save()  # collective: every worker saves, only the chief into model_dir
task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0)
np.savez(os.path.join(model_dir, f"after-{task}.npz"), **{f"w{i}": v.numpy() for i, v in enumerate(variables)})
print(json.dumps({"losses": [float(x) for x in losses], "replicas": strategy.num_replicas_in_sync,
                  "step": run.step}))
