"""`FinetuneHparams`: the fine-tuning hyperparameters, read from `configs/finetune/*.json` (top level, then the
task's section) and `--hparams`; unknown settings are rejected where they were written."""

import dataclasses
from typing import Optional

from electra_tf import hparams as hparams_lib
from electra_tf import io_utils
from electra_tf.finetuning.tasks import canonical_name
from electra_tf.hparams import setting
from electra_tf.tokenization import DEFAULT_BUCKET_WIDTH

DROPOUT = hparams_lib.rule("float", 0, 1, high_open=True, optional=True)


@dataclasses.dataclass
class FinetuneHparams(hparams_lib.OptimizerSettings):
    """Fine-tuning hyperparameters (defaults: the KoELECTRA v3 finetune suite). The optimizer's settings are
    `hparams.OptimizerSettings`' (warmup as a proportion of the run, or in steps)."""

    learning_rate: float = hparams_lib.redefault("learning_rate", 5e-5)
    warmup_proportion: Optional[float] = hparams_lib.redefault("warmup_proportion", 0.0)
    weight_decay_rate: float = hparams_lib.redefault("weight_decay_rate", 0.0)
    adam_epsilon: float = hparams_lib.redefault("adam_epsilon", 1e-8)
    model: str = setting("", hparams_lib.TEXT)  # informational: which pre-trained model these settings are for
    source: str = setting("", hparams_lib.TEXT)  # informational: where these settings come from
    max_seq_length: int = setting(128, hparams_lib.POSITIVE_INT)
    train_batch_size: int = setting(32, hparams_lib.POSITIVE_INT)
    eval_batch_size: int = setting(64, hparams_lib.POSITIVE_INT)
    num_train_epochs: int = setting(3, hparams_lib.POSITIVE_INT)
    seed: int = setting(42, hparams_lib.ANY_INT)
    doc_stride: int = setting(128, hparams_lib.POSITIVE_INT)
    max_query_length: int = setting(64, hparams_lib.POSITIVE_INT)
    max_answer_length: int = setting(30, hparams_lib.POSITIVE_INT)
    n_best_size: int = setting(20, hparams_lib.POSITIVE_INT)
    # dropout rates; None keeps the checkpoint's config
    hidden_dropout_prob: Optional[float] = setting(None, DROPOUT)
    attention_probs_dropout_prob: Optional[float] = setting(None, DROPOUT)
    classifier_dropout: Optional[float] = setting(None, DROPOUT)
    # cap (quick runs); None = the whole train split
    max_steps_per_epoch: Optional[int] = setting(None, hparams_lib.rule("int", 1, optional=True))
    log_steps: int = setting(50, hparams_lib.POSITIVE_INT)
    # checkpoint every N steps as well; None = after every epoch only
    save_checkpoints_steps: Optional[int] = setting(None, hparams_lib.rule("int", 1, optional=True))
    # train/eval/predict steps per compiled call (raise it on TPUs)
    steps_per_execution: int = setting(1, hparams_lib.POSITIVE_INT)
    # batches are cut to a multiple of this many tokens (see `batching`); 0 = off
    bucket_width: int = setting(DEFAULT_BUCKET_WIDTH, hparams_lib.NON_NEGATIVE_INT)
    # classification / regression inputs longer than max_seq_length: cut ("truncate") or split into windows of
    # max_seq_length tokens, `window_stride` tokens apart, whose logits are pooled (see `finetuning.windows`)
    long_text: str = setting("truncate", hparams_lib.one_of("truncate", "windows"))
    window_stride: int = setting(64, hparams_lib.POSITIVE_INT)
    window_pooling: str = setting("mean", hparams_lib.one_of("mean", "max"))
    window_training: str = setting("first", hparams_lib.one_of("first", "all"))  # train on which windows

    @classmethod
    def field_names(cls):
        return hparams_lib.field_names(cls)

    def to_dict(self):
        return dataclasses.asdict(self)


def load_hparams(config_path=None, task_name=None, overrides=None):
    """Defaults ← the config file's top level ← its `tasks[task_name]` section ← `overrides` (`--hparams`: a
    dict, JSON text or a .json file); an unknown or out-of-range setting is a ValueError naming its place."""
    layers = []
    if config_path:
        document = io_utils.read_json(config_path)
        per_task = document.pop("tasks", {}) or {}
        layers.append((config_path, document))
        if task_name:
            for key, section in per_task.items():
                if canonical_name(key) == canonical_name(task_name):
                    layers.append((f"{config_path} tasks.{key}", section))
    layers.append(hparams_lib.parse_hparams_with_source(overrides, FinetuneHparams.field_names())[::-1])
    return hparams_lib.build(FinetuneHparams, layers)
