"""`FinetuneHparams`: the fine-tuning hyperparameters, read from `configs/finetune/*.json` (top level, then the
task's section) and `--hparams`; unknown settings are rejected where they were written."""

import dataclasses
from typing import Optional

from electra_tf import hparams as hparams_lib
from electra_tf import io_utils
from electra_tf.finetuning.tasks import canonical_name
from electra_tf.tokenization import DEFAULT_BUCKET_WIDTH


@dataclasses.dataclass
class FinetuneHparams(hparams_lib.OptimizerSettings):
    """Fine-tuning hyperparameters (defaults: the KoELECTRA v3 finetune suite). The optimizer's settings are
    `hparams.OptimizerSettings`' (warmup as a proportion of the run, or in steps)."""

    learning_rate: float = 5e-5
    warmup_proportion: Optional[float] = 0.0
    weight_decay_rate: float = 0.0
    adam_epsilon: float = 1e-8
    model: str = ""  # informational: which pre-trained model these settings are meant for
    source: str = ""  # informational: where these settings come from (papers, code, measurements)
    max_seq_length: int = 128
    train_batch_size: int = 32
    eval_batch_size: int = 64
    num_train_epochs: int = 3
    seed: int = 42
    doc_stride: int = 128
    max_query_length: int = 64
    max_answer_length: int = 30
    n_best_size: int = 20
    hidden_dropout_prob: Optional[float] = None  # None keeps the checkpoint's config
    attention_probs_dropout_prob: Optional[float] = None
    classifier_dropout: Optional[float] = None
    max_steps_per_epoch: Optional[int] = None  # cap (quick runs); None = the whole train split
    log_steps: int = 50
    save_checkpoints_steps: Optional[int] = None  # checkpoint every N steps as well; None = after every epoch only
    steps_per_execution: int = 1  # train/eval/predict steps per compiled call (raise it on TPUs)
    # batches are cut to a multiple of this many tokens (see `batching`); 0 = off
    bucket_width: int = DEFAULT_BUCKET_WIDTH

    RULES = {
        "model": hparams_lib.TEXT, "source": hparams_lib.TEXT,
        "max_seq_length": hparams_lib.POSITIVE_INT, "train_batch_size": hparams_lib.POSITIVE_INT,
        "eval_batch_size": hparams_lib.POSITIVE_INT, "num_train_epochs": hparams_lib.POSITIVE_INT,
        "seed": hparams_lib.ANY_INT, "doc_stride": hparams_lib.POSITIVE_INT,
        "max_query_length": hparams_lib.POSITIVE_INT, "max_answer_length": hparams_lib.POSITIVE_INT,
        "n_best_size": hparams_lib.POSITIVE_INT,
        "hidden_dropout_prob": hparams_lib.rule("float", 0, 1, high_open=True, optional=True),
        "attention_probs_dropout_prob": hparams_lib.rule("float", 0, 1, high_open=True, optional=True),
        "classifier_dropout": hparams_lib.rule("float", 0, 1, high_open=True, optional=True),
        "max_steps_per_epoch": hparams_lib.rule("int", 1, optional=True),
        "log_steps": hparams_lib.POSITIVE_INT, "save_checkpoints_steps": hparams_lib.rule("int", 1, optional=True),
        "steps_per_execution": hparams_lib.POSITIVE_INT, "bucket_width": hparams_lib.NON_NEGATIVE_INT,
    }

    def __post_init__(self):
        self.check_optimizer_settings()
        hparams_lib.check_ranges(self, self.RULES)

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
