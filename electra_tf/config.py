"""`ElectraConfig`: the model hyperparameters, read from and written to transformers' `config.json`.

Every field transformers' ELECTRA config knows is written out explicitly (a missing field would silently take
transformers' ELECTRA-small default), and unknown fields are kept and written back, so a round trip through
this class is lossless.
"""

import dataclasses
from typing import Any, Optional

from electra_tf import io_utils

HEAD_ARCHITECTURES = {
    "encoder": "ElectraModel",
    "discriminator": "ElectraForPreTraining",
    "generator": "ElectraForMaskedLM",
    "sequence_classification": "ElectraForSequenceClassification",
    "token_classification": "ElectraForTokenClassification",
    "question_answering": "ElectraForQuestionAnswering",
}


@dataclasses.dataclass
class ElectraConfig:
    """Hyperparameters of one ELECTRA network (a discriminator or a generator), in transformers' terms."""

    vocab_size: int = 35000
    embedding_size: int = 128
    hidden_size: int = 256
    num_hidden_layers: int = 12
    num_attention_heads: int = 4
    intermediate_size: int = 1024
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    classifier_dropout: Optional[float] = None
    summary_type: str = "first"
    summary_use_proj: bool = True
    summary_activation: str = "gelu"
    summary_last_dropout: float = 0.1
    position_embedding_type: str = "absolute"
    use_cache: bool = True
    architectures: Optional[list] = None
    id2label: Optional[dict] = None
    label2id: Optional[dict] = None
    extra: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.position_embedding_type != "absolute":
            raise ValueError(f"position_embedding_type {self.position_embedding_type!r} is not supported")
        if self.id2label is not None:
            self.id2label = {int(key): value for key, value in self.id2label.items()}
            if self.label2id is None:
                self.label2id = {value: key for key, value in self.id2label.items()}

    @property
    def num_labels(self):
        return len(self.id2label) if self.id2label else 2

    def with_labels(self, labels):
        """A copy with `id2label`/`label2id` set from an ordered list of label names."""
        id2label = {index: str(label) for index, label in enumerate(labels)}
        return dataclasses.replace(self, id2label=id2label, label2id={v: k for k, v in id2label.items()})

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    # Serialization ----------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ElectraConfig":
        known = {field.name for field in dataclasses.fields(cls)} - {"extra"}
        kwargs = {key: value for key, value in values.items() if key in known}
        extra = {key: value for key, value in values.items() if key not in known}
        if extra.get("model_type", "electra") != "electra":
            raise ValueError(f"model_type is {extra['model_type']!r}, expected 'electra'")
        if "num_labels" in extra and "id2label" not in kwargs:
            kwargs["id2label"] = {i: f"LABEL_{i}" for i in range(int(extra["num_labels"]))}
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        values = {key: value for key, value in self.extra.items() if key != "num_labels"}
        for field in dataclasses.fields(self):
            if field.name == "extra":
                continue
            value = getattr(self, field.name)
            if field.name in ("architectures", "id2label", "label2id") and value is None:
                continue
            values[field.name] = value
        if self.id2label is not None:
            values["id2label"] = {str(key): value for key, value in self.id2label.items()}
        values["model_type"] = "electra"
        return values

    @classmethod
    def from_json_file(cls, path: str) -> "ElectraConfig":
        try:
            return cls.from_dict(io_utils.read_json(path))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from error

    def to_json_file(self, path: str):
        io_utils.write_json(path, self.to_dict())

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "ElectraConfig":
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}")
        return cls(**{**PRESETS[name]["config"], **overrides})


def _small(vocab_size, **changes):
    return dict(vocab_size=vocab_size, embedding_size=128, hidden_size=256, num_hidden_layers=12,
                num_attention_heads=4, intermediate_size=1024, **changes)


def _base(vocab_size, **changes):
    return dict(vocab_size=vocab_size, embedding_size=768, hidden_size=768, num_hidden_layers=12,
                num_attention_heads=12, intermediate_size=3072, **changes)


def _large(vocab_size, **changes):
    return dict(vocab_size=vocab_size, embedding_size=1024, hidden_size=1024, num_hidden_layers=24,
                num_attention_heads=16, intermediate_size=4096, **changes)


# Discriminator shapes of the published models. `source` names where each number comes from.
PRESETS = {
    "google-electra-small": dict(
        config=_small(30522), source="google-research/electra configure_pretraining.py (small)"),
    "google-electra-base": dict(
        config=_base(30522), source="google-research/electra configure_pretraining.py (base)"),
    "google-electra-large": dict(
        config=_large(30522), source="google-research/electra configure_pretraining.py (large)"),
    "koelectra-small-v1": dict(config=_small(32200), source="monologg/KoELECTRA README, v1 table"),
    "koelectra-small-v2": dict(config=_small(32200), source="monologg/KoELECTRA README, v2 table"),
    "koelectra-small-v3": dict(config=_small(35000), source="monologg/KoELECTRA README, v3 table"),
    "koelectra-base-v1": dict(config=_base(32200), source="monologg/KoELECTRA README, v1 table"),
    "koelectra-base-v2": dict(config=_base(32200), source="monologg/KoELECTRA README, v2 table"),
    "koelectra-base-v3": dict(config=_base(35000), source="monologg/KoELECTRA README, v3 table"),
    "dialog-koelectra-small": dict(
        config=_small(40000, max_position_embeddings=128),
        source="skplanet/Dialog-KoELECTRA README (vocab 40,000 incl. 500 unused, max length 128)"),
    "kcelectra-base": dict(config=_base(50135), source="Beomi/KcELECTRA README (vocab 50,135)"),
    "kcelectra-base-v2022": dict(config=_base(54343), source="Beomi/KcELECTRA README (v2022 vocab 54,343)"),
    "tunib-electra-ko-small": dict(
        config=_small(32000),
        source="tunib-ai/tunib-electra README: small shape, 14M parameters; the vocabulary size is not "
               "published and 32,000 is an assumption that matches the parameter count to ~1M"),
    "tunib-electra-ko-en-small": dict(
        config=_small(61000),
        source="tunib-ai/tunib-electra README: small shape, 18M parameters; the vocabulary size is not "
               "published and 61,000 is an assumption that matches the parameter count to ~1M"),
    "tiny": dict(
        config=dict(vocab_size=4000, embedding_size=64, hidden_size=128, num_hidden_layers=2,
                    num_attention_heads=2, intermediate_size=256, max_position_embeddings=128),
        source="this project: a CPU-sized model for the demo and tests"),
}
