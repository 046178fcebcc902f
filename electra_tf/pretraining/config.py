"""`PretrainingConfig`: the pre-training hyperparameters (google-research/electra `configure_pretraining.py`),
read from `configs/pretrain/*.json` with optional `--hparams` overrides."""

import dataclasses
from typing import Optional

from electra_tf import hparams as hparams_lib
from electra_tf import io_utils
from electra_tf.config import ElectraConfig
from electra_tf.hparams import setting


def default_max_predictions(mask_prob, max_seq_length):
    """The original's masked positions per row: int((mask_prob + 0.005) * max_seq_length), 19 at 0.15 and 128."""
    return int((mask_prob + 0.005) * max_seq_length)


@dataclasses.dataclass
class PretrainingConfig(hparams_lib.OptimizerSettings):
    """Defaults are the original's (ELECTRA-small); presets in configs/pretrain override them. The optimizer's
    settings are `hparams.OptimizerSettings`' (warmup in steps)."""

    warmup_steps: Optional[int] = hparams_lib.redefault("warmup_steps", 10000)
    model_preset: str = setting("google-electra-small", hparams_lib.TEXT)
    model_overrides: dict = setting(None, hparams_lib.rule("dict"), factory=dict)
    # generator size as fractions of the discriminator (heads = max(1, hidden // 64), ffn = 4 x hidden)
    generator_hidden_size: float = setting(0.25, hparams_lib.POSITIVE)
    generator_layers: float = setting(1.0, hparams_lib.POSITIVE)
    untied_generator_embeddings: bool = setting(False, hparams_lib.FLAG_RULE)
    # masking and sampling
    mask_prob: float = setting(0.15, hparams_lib.rule("float", 0, 1, low_open=True, high_open=True))
    # default int((mask_prob + 0.005) * max_seq_length)
    max_predictions_per_seq: Optional[int] = setting(None, hparams_lib.rule("int", 1, optional=True))
    # of the chosen positions, the rest keep their token (no random tokens)
    mask_token_prob: float = setting(0.85, hparams_lib.FRACTION)
    temperature: float = setting(1.0, hparams_lib.POSITIVE)
    disallow_correct: bool = setting(False, hparams_lib.FLAG_RULE)
    # losses
    gen_weight: float = setting(1.0, hparams_lib.NON_NEGATIVE)
    disc_weight: float = setting(50.0, hparams_lib.NON_NEGATIVE)
    # schedule and data
    train_steps: int = setting(1000000, hparams_lib.POSITIVE_INT)
    train_batch_size: int = setting(128, hparams_lib.POSITIVE_INT)
    max_seq_length: int = setting(128, hparams_lib.POSITIVE_INT)
    # bookkeeping
    save_checkpoints_steps: int = setting(1000, hparams_lib.POSITIVE_INT)
    keep_checkpoint_max: int = setting(5, hparams_lib.POSITIVE_INT)
    # also keep every checkpoint whose step is a multiple of this (copied to MODEL_DIR/series/, never deleted,
    # as KcELECTRA kept each 100k-step checkpoint to fine-tune); None or 0 = off
    keep_checkpoint_every_n_steps: Optional[int] = setting(None, hparams_lib.rule("int", 0, optional=True))
    log_steps: int = setting(100, hparams_lib.POSITIVE_INT)
    # learning health (pretraining/health.py): rows per replica step whose masked positions are also filled with
    # unigram draws and scored by the discriminator (one more forward of those rows; 0 = off), and the fraction
    # of train_steps after which a run still on the unigram plateau is warned about (0 = never)
    health_rows: int = setting(4, hparams_lib.NON_NEGATIVE_INT)
    plateau_warning_fraction: float = setting(0.1, hparams_lib.FRACTION)
    # held-out evaluation (--eval_data_dir): every eval_steps steps (default save_checkpoints_steps) and at the
    # end, on the first eval_batches batches of train_batch_size records, with fixed masks and fills
    eval_steps: Optional[int] = setting(None, hparams_lib.rule("int", 1, optional=True))
    eval_batches: int = setting(16, hparams_lib.POSITIVE_INT)
    steps_per_execution: int = setting(1, hparams_lib.POSITIVE_INT)
    seed: int = setting(42, hparams_lib.ANY_INT)
    source: str = setting("", hparams_lib.TEXT)  # where the preset's numbers come from

    def __post_init__(self):
        super().__post_init__()
        if self.layerwise_lr_decay != 1.0:
            raise hparams_lib.SettingError("layerwise_lr_decay", "is for fine-tuning only: pre-training takes 1.0")
        if self.max_predictions_per_seq is None:
            self.max_predictions_per_seq = default_max_predictions(self.mask_prob, self.max_seq_length)
        every = self.keep_checkpoint_every_n_steps
        if every and every % self.save_checkpoints_steps:
            raise hparams_lib.SettingError(
                "keep_checkpoint_every_n_steps", f"({every}) must be 0 (off) or a multiple of "
                f"save_checkpoints_steps ({self.save_checkpoints_steps})")

    @classmethod
    def from_json_file(cls, path, overrides=None):
        """The preset at `path` ← `overrides` (`--hparams`: a dict, JSON text or a .json file)."""
        values, where = hparams_lib.parse_hparams_with_source(overrides, hparams_lib.field_names(cls))
        return hparams_lib.build(cls, [(path, io_utils.read_json(path)), (where, values)])

    def to_json_file(self, path):
        io_utils.write_json(path, dataclasses.asdict(self))

    def discriminator_config(self, vocab_size=None):
        overrides = dict(self.model_overrides)
        if vocab_size is not None:
            overrides["vocab_size"] = vocab_size
        config = ElectraConfig.from_preset(self.model_preset, **overrides)
        if config.max_position_embeddings < self.max_seq_length:
            raise ValueError(f"max_seq_length {self.max_seq_length} exceeds max_position_embeddings "
                             f"{config.max_position_embeddings}")
        return config

    def generator_config(self, discriminator):
        """The generator's shape derived from the discriminator's, as the original computes it."""
        hidden = int(round(discriminator.hidden_size * self.generator_hidden_size))
        layers = int(round(discriminator.num_hidden_layers * self.generator_layers))
        return discriminator.replace(
            hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
            intermediate_size=4 * hidden)

