"""The hyperparameters shared by pre-training and fine-tuning: the one `--hparams` parser (a JSON object, inline or
in a `.json` file, whose keys must all be known settings), one spelling per option (`ALIASES` maps the older
spellings, still accepted), range checks that name the key and where its value came from, and
`OptimizerSettings`, the optimizer's settings embedded in both configs (the JSON stays flat)."""

import dataclasses
import json
import math
from typing import Optional

import tensorflow as tf
from absl import flags

from electra_tf import io_utils

FLAG = "--hparams"
DEFAULT_SOURCE = "default"

# Older spelling → the one spelling. Both are accepted in a config file or `--hparams` (both at once in one
# place is an error); a config object also answers to the older name, read-only.
ALIASES = {
    "weight_decay": "weight_decay_rate",
    "max_grad_norm": "clip_norm",
    "logging_steps": "log_steps",
    "save_steps": "save_checkpoints_steps",
}


def define_flags(config_help, hparams_help):
    """Defines a command's `--config` (a JSON file of settings) and `--hparams` (overrides, see `parse_hparams`)."""
    flags.DEFINE_string("config", None, config_help)
    flags.DEFINE_string(FLAG[2:], None, hparams_help)


def field_names(settings_class):
    """The setting names a dataclass of hyperparameters accepts (its fields and their `ALIASES`)."""
    names = {field.name for field in dataclasses.fields(settings_class)}
    return names | {alias for alias, name in ALIASES.items() if name in names}


def check_keys(values, known, where):
    """Raises a ValueError naming `where` (a file, a file's section, or the flag) for keys not in `known`."""
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown hyperparameter(s) {unknown}; known: {sorted(known)}")


def canonical_keys(values, where):
    """`values` with every `ALIASES` spelling replaced by the one spelling; a ValueError naming `where` when
    both spellings of one option are given."""
    result = {}
    for key, value in values.items():
        name = ALIASES.get(key, key)
        if name in result:
            alias = next(old for old, new in ALIASES.items() if new == name)
            raise ValueError(f"{where}: {alias!r} and {name!r} are one setting ({alias} is its older spelling): "
                             f"give only {name!r}")
        result[name] = value
    return result


def parse_hparams(value, known):
    """`--hparams` → dict: None or "" give {}; a dict is taken as is; text ending in `.json` is a file path
    (read through `tf.io.gfile`), any other text is the JSON object itself. Unknown keys raise a ValueError."""
    return parse_hparams_with_source(value, known)[0]


def parse_hparams_with_source(value, known):
    """`(dict, where)` of `parse_hparams`, `where` naming the flag (or its file) for error messages."""
    if not value:
        return {}, FLAG
    where = FLAG
    if isinstance(value, str):
        if value.strip().endswith(".json"):
            path = value.strip()
            where = f"{FLAG} file {path}"
            if not tf.io.gfile.exists(path):
                raise FileNotFoundError(f"{where} does not exist")
            value = io_utils.read_json(path)
        else:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"{FLAG} is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(value).__name__}")
    check_keys(value, known, where)
    return dict(value), where


# Settings of which a run takes one: setting one in a later place clears the other (the later place wins).
EXCLUSIVE = {"warmup_steps": "warmup_proportion", "warmup_proportion": "warmup_steps"}


def build(settings_class, layers):
    """A `settings_class` from `layers` ([(where, values)], later ones win): aliases mapped, unknown keys and
    out-of-range values reported as one ValueError naming the key and the `where` its value came from."""
    known = field_names(settings_class)
    values, sources, spelled = {}, {}, {}
    for where, layer in layers:
        check_keys(layer, known, where)
        spelled.update({ALIASES.get(key, key): key for key in layer})
        layer = canonical_keys(layer, where)
        for key, value in layer.items():
            values[key], sources[key] = value, where
            partner = EXCLUSIVE.get(key)
            if partner and partner not in layer and value is not None:
                values[partner], sources[partner] = None, where
    try:
        return settings_class(**values)
    except SettingError as error:
        name = spelled.get(error.key, error.key)
        name = error.key if name == error.key else f"{name} ({error.key})"  # as the user wrote it
        raise ValueError(f"{sources.get(error.key, DEFAULT_SOURCE)}: hparams {name} {error.problem}") from None


# Range checks ------------------------------------------------------------------------------------------------

class SettingError(ValueError):
    """A setting out of range; `key` names it (`build` adds where its value came from)."""

    def __init__(self, key, problem):
        super().__init__(f"hparams {key} {problem}")
        self.key, self.problem = key, problem


def _number(value, integer):
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if integer else isinstance(value, (int, float)) and math.isfinite(value)


def rule(kind, low=None, high=None, low_open=False, high_open=False, optional=False):
    """A check of one setting: `kind` "int", "float", "bool" or "str"; numbers within [low, high] (an end is
    excluded when `*_open`); `optional`: None is allowed. Returns `check(value) → None | what is wrong`."""
    if kind in ("int", "float"):
        if high is None:
            bounds = "" if low is None else f" {'>' if low_open else '>='} {low:g}"
        else:
            bounds = f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        wanted = f"must be {'an integer' if kind == 'int' else 'a number'}{bounds}"
    else:
        wanted = {"bool": "must be true or false", "str": "must be a string", "dict": "must be a JSON object"}[kind]
    if optional:
        wanted += " (or null)"

    def check(value):
        if value is None:
            return None if optional else wanted
        if kind == "bool":
            return None if isinstance(value, bool) else wanted
        if kind == "str":
            return None if isinstance(value, str) else wanted
        if kind == "dict":
            return None if isinstance(value, dict) else wanted
        if not _number(value, kind == "int"):
            return wanted
        if low is not None and (value < low or (low_open and value == low)):
            return wanted
        if high is not None and (value > high or (high_open and value == high)):
            return wanted
        return None

    return check


def one_of(*choices):
    """A check that the setting is one of the strings `choices`."""
    wanted = f"must be one of {', '.join(choices)}"
    return lambda value: None if value in choices else wanted


POSITIVE_INT = rule("int", 1)
NON_NEGATIVE_INT = rule("int", 0)
POSITIVE = rule("float", 0, low_open=True)
NON_NEGATIVE = rule("float", 0)
FRACTION = rule("float", 0, 1)
PROBABILITY = rule("float", 0, 1, high_open=True)  # dropout: 1 would drop everything
FLAG_RULE = rule("bool")
TEXT = rule("str")
ANY_INT = rule("int")


CHECK = "check"  # the field metadata key of a setting's range check


def setting(default, check, factory=None):
    """A dataclass field holding `default` (or made by `factory`) whose value `check` (a `rule`) accepts."""
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={CHECK: check})
    return dataclasses.field(default=default, metadata={CHECK: check})


def check_ranges(settings):
    """Raises `SettingError` for the first field of the dataclass `settings` whose check fails (a TypeError
    for a field without one: every setting is checked)."""
    for field in dataclasses.fields(settings):
        if CHECK not in field.metadata:
            raise TypeError(f"{type(settings).__name__}.{field.name} has no range check (use hparams.setting)")
        value = getattr(settings, field.name)
        problem = field.metadata[CHECK](value)
        if problem:
            raise SettingError(field.name, f"{problem}, got {value!r}")


class AliasedSettings:
    """Answers the older spellings of `ALIASES` (read-only) with the one spelling's value."""

    def __getattr__(self, name):
        if name in ALIASES:
            return getattr(self, ALIASES[name])
        raise AttributeError(f"{type(self).__name__} has no setting {name!r}")


@dataclasses.dataclass
class OptimizerSettings(AliasedSettings):
    """The optimizer's settings, the same names in both configs (defaults: the original ELECTRA's; each config
    sets its own with `redefault`). Warmup is `warmup_steps` or a `warmup_proportion` of the run, not both."""

    learning_rate: float = setting(5e-4, POSITIVE)
    lr_decay_power: float = setting(1.0, NON_NEGATIVE)  # 1.0 = linear decay to 0
    warmup_steps: Optional[int] = setting(None, rule("int", 0, optional=True))
    warmup_proportion: Optional[float] = setting(None, rule("float", 0, 1, optional=True))
    weight_decay_rate: float = setting(0.01, NON_NEGATIVE)
    adam_epsilon: float = setting(1e-6, POSITIVE)
    # False: the original's Adam (no bias correction: the first few hundred updates are 3-6x larger, which its
    # 10k warmup steps absorb); True: Adam's bias correction (Keras/PyTorch AdamW), for short warmups
    adam_bias_correction: bool = setting(False, FLAG_RULE)
    clip_norm: float = setting(1.0, NON_NEGATIVE)  # global-norm clipping; 0 = off
    # 1.0 = off; the original ELECTRA fine-tunes with 0.8
    layerwise_lr_decay: float = setting(1.0, rule("float", 0, 1, low_open=True))
    # k micro-batches of train_batch_size / k rows per optimizer step (the loss of the whole batch, less memory)
    gradient_accumulation_steps: int = setting(1, POSITIVE_INT)

    def __post_init__(self):
        check_ranges(self)
        batch_size = getattr(self, "train_batch_size", None)
        if batch_size is not None and batch_size % self.gradient_accumulation_steps:
            raise SettingError("gradient_accumulation_steps", f"({self.gradient_accumulation_steps}) must divide "
                               f"train_batch_size ({batch_size})")
        if self.warmup_steps is not None and self.warmup_proportion is not None:
            raise SettingError("warmup_proportion", f"and warmup_steps ({self.warmup_steps}) are both set: give "
                               "one (set the other to null)")

    def resolved_warmup_steps(self, train_steps):
        """The warmup length of a run of `train_steps` steps."""
        if self.warmup_steps is not None:
            return self.warmup_steps
        return int(round((self.warmup_proportion or 0.0) * train_steps))

    def optimizer_arguments(self, train_steps, num_layers=0):
        """The keyword arguments of `optimization.create_optimizer` for a run of `train_steps` steps."""
        return {"learning_rate": self.learning_rate, "train_steps": train_steps,
                "warmup_steps": self.resolved_warmup_steps(train_steps), "weight_decay_rate": self.weight_decay_rate,
                "epsilon": self.adam_epsilon, "lr_decay_power": self.lr_decay_power, "clip_norm": self.clip_norm,
                "layerwise_lr_decay": self.layerwise_lr_decay, "num_layers": num_layers,
                "bias_correction": self.adam_bias_correction}

    def step_arguments(self, train_steps, num_layers=0):
        """The keyword arguments of `training_step.TrainingStep` after the model and loss: the optimizer's and
        the accumulation."""
        return {**self.optimizer_arguments(train_steps, num_layers),
                "accumulation_steps": self.gradient_accumulation_steps}


def redefault(name, default):
    """`OptimizerSettings`' setting `name` (its check) with a config's own `default`."""
    field = next(field for field in dataclasses.fields(OptimizerSettings) if field.name == name)
    return dataclasses.field(default=default, metadata=field.metadata)
