"""`FinetuneHparams`: the fine-tuning hyperparameters, read from `configs/finetune/*.json` (top level, then the
task's section) and `--hparams`; unknown settings are rejected where they were written."""

import dataclasses
from typing import Optional

from electra_tf import hparams as hparams_lib
from electra_tf import io_utils
from electra_tf.finetuning.tasks import canonical_name
from electra_tf.tokenization import DEFAULT_BUCKET_WIDTH


@dataclasses.dataclass
class FinetuneHparams:
    """Fine-tuning hyperparameters (defaults: the KoELECTRA v3 finetune suite)."""

    model: str = ""  # informational: which pre-trained model these settings are meant for
    source: str = ""  # informational: where these settings come from (papers, code, measurements)
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
    save_steps: Optional[int] = None  # checkpoint every N steps as well; None = after every epoch only
    steps_per_execution: int = 1  # train/eval/predict steps per compiled call (raise it on TPUs)
    # batches are cut to a multiple of this many tokens (see `batching`); 0 = off
    bucket_width: int = DEFAULT_BUCKET_WIDTH

    def __post_init__(self):
        for key in ("save_steps", "steps_per_execution", "logging_steps"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"hparams {key} must be a positive integer, got {value!r}")
        if not isinstance(self.bucket_width, int) or isinstance(self.bucket_width, bool) or self.bucket_width < 0:
            raise ValueError(f"hparams bucket_width must be a non-negative integer (0 = off), "
                             f"got {self.bucket_width!r}")

    @classmethod
    def field_names(cls):
        return hparams_lib.field_names(cls)

    def to_dict(self):
        return dataclasses.asdict(self)


def load_hparams(config_path=None, task_name=None, overrides=None):
    """Defaults ← the config file's top level ← its `tasks[task_name]` section ← `overrides` (`--hparams`: a
    dict, JSON text or a .json file)."""
    known = FinetuneHparams.field_names()
    values = {}
    if config_path:
        document = io_utils.read_json(config_path)
        per_task = document.pop("tasks", {}) or {}
        hparams_lib.check_keys(document, known, config_path)
        values.update(document)
        if task_name:
            for key, section in per_task.items():
                if canonical_name(key) == canonical_name(task_name):
                    hparams_lib.check_keys(section, known, f"{config_path} tasks.{key}")
                    values.update(section)
    values.update(hparams_lib.parse_hparams(overrides, known))
    return FinetuneHparams(**values)
