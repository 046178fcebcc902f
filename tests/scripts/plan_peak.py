"""Plans one small training step with `electra_tf.plan` and measures the same step separately (a fresh run
built here on a batch assembled here, its second step's peak above the memory in use before it was built);
prints both as JSON.

Usage: plan_peak.py [pretrain|finetune] (default pretrain; finetune: NSMC's head, 2 micro-batches of 4 rows).
The BFC allocator, which gives the CPU's memory statistics, must be chosen before TensorFlow starts, hence a
subprocess.
"""

import gc
import json
import os
import sys
import tempfile

os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from electra_tf import plan  # noqa: E402
from electra_tf.config import ElectraConfig  # noqa: E402
from electra_tf.finetuning.config import FinetuneHparams  # noqa: E402
from electra_tf.finetuning.loop import FineTuner  # noqa: E402
from electra_tf.finetuning.tasks import get_task  # noqa: E402
from electra_tf.models import build_model  # noqa: E402
from electra_tf.pretraining.config import PretrainingConfig  # noqa: E402
from electra_tf.pretraining.loop import PretrainingRun  # noqa: E402

KIND = sys.argv[1] if len(sys.argv) > 1 else "pretrain"
ROWS, LENGTH, VOCAB = 8, 32, 2000
strategy = tf.distribute.get_strategy()

rng = np.random.default_rng(1)
ids = rng.integers(5, VOCAB, (ROWS, LENGTH)).astype(np.int32)
ids[:, 0], ids[:, 16], ids[:, -1] = 2, 3, 3
segments = (np.arange(LENGTH) > 16).astype(np.int32)[None].repeat(ROWS, 0)

if KIND == "pretrain":
    config = PretrainingConfig(model_preset="tiny", model_overrides={"vocab_size": VOCAB, "num_hidden_layers": 1},
                               max_seq_length=LENGTH, train_batch_size=ROWS, train_steps=1000, warmup_steps=0)
    discriminator_config = config.discriminator_config()
    builder = plan.Pretraining(config, discriminator_config)
    batch = {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": segments}

    def separate_run(model_dir):
        run = PretrainingRun(config, discriminator_config, plan.SPECIAL_IDS, model_dir, strategy)
        iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
        return lambda: run.train_steps(iterator, 1)
else:
    task = get_task("nsmc")
    hparams = FinetuneHparams(max_seq_length=LENGTH, train_batch_size=ROWS, gradient_accumulation_steps=2)
    model_config = ElectraConfig.from_preset("tiny", vocab_size=VOCAB, num_hidden_layers=1)
    builder = plan.Finetuning(task, hparams, model_config, train_examples=80)
    element = ({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": segments},
               {"labels": rng.integers(0, 2, ROWS).astype(np.int32)}, np.ones(ROWS, np.float32),
               np.arange(ROWS, dtype=np.int64))

    def separate_run(model_dir):
        del model_dir
        model = build_model(model_config.with_labels(task.labels), "sequence_classification")
        tuner = FineTuner(model, task, hparams, 1000)
        iterator = iter(tf.data.Dataset.from_tensors(element).repeat())
        return lambda: tuner.train(iterator, 1)

planned = plan.plan(builder, strategy, timed_steps=1, log=lambda line: None)
gc.collect()

before = tf.config.experimental.get_memory_info("CPU:0")["current"]
with tempfile.TemporaryDirectory() as model_dir:
    step = separate_run(model_dir)
    step()
    tf.config.experimental.reset_memory_stats("CPU:0")
    step()
    separate = tf.config.experimental.get_memory_info("CPU:0")["peak"] - before
print(json.dumps({"planned_peak": planned["measured_peak_bytes"], "separate_peak": int(separate),
                  "micro_batch": planned["micro_batch"], "accumulation": planned["gradient_accumulation_steps"],
                  "persistent": planned["estimated_bytes"]["persistent"], "parameters": planned["parameters"],
                  "train_steps": planned["train_steps"]}))
