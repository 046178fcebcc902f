"""Plans one small pre-training step with `electra_tf.plan` and measures the same step separately (a fresh run
built here, its second step's peak above the memory in use before it was built); prints both as JSON.

Usage: plan_peak.py (the BFC allocator, which gives the CPU's memory statistics, must be chosen before
TensorFlow starts, hence a subprocess).
"""

import gc
import json
import os
import tempfile

os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from electra_tf import plan  # noqa: E402
from electra_tf.pretraining.config import PretrainingConfig  # noqa: E402
from electra_tf.pretraining.loop import PretrainingRun  # noqa: E402

config = PretrainingConfig(model_preset="tiny", model_overrides={"vocab_size": 2000, "num_hidden_layers": 1}, max_seq_length=32,
                           train_batch_size=8, train_steps=1000, warmup_steps=0)
discriminator_config = config.discriminator_config()
strategy = tf.distribute.get_strategy()
planned = plan.plan(config, discriminator_config, strategy, plan.count_parameters(config, discriminator_config),
                    timed_steps=1, log=lambda line: None)
gc.collect()

rng = np.random.default_rng(1)
ids = rng.integers(5, 2000, (8, 32)).astype(np.int32)
ids[:, 0], ids[:, 16], ids[:, -1] = 2, 3, 3
batch = {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": (np.arange(32) > 16).astype(np.int32)[None]
         .repeat(8, 0)}
before = tf.config.experimental.get_memory_info("CPU:0")["current"]
with tempfile.TemporaryDirectory() as model_dir:
    run = PretrainingRun(config, discriminator_config, plan.SPECIAL_IDS, model_dir, strategy)
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    run.train_steps(iterator, 1)
    tf.config.experimental.reset_memory_stats("CPU:0")
    run.train_steps(iterator, 1)
    separate = tf.config.experimental.get_memory_info("CPU:0")["peak"] - before
print(json.dumps({"planned_peak": planned["measured_peak_bytes"], "separate_peak": int(separate),
                  "micro_batch": planned["micro_batch"], "accumulation": planned["gradient_accumulation_steps"],
                  "persistent": planned["estimated_bytes"]["persistent"], "parameters": planned["parameters"]}))
