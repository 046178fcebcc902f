"""The one `--hparams` parser of pre-training and fine-tuning: a JSON object, inline or in a `.json` file, read
into a dict whose keys must all be known settings."""

import dataclasses
import json

import tensorflow as tf

from electra_tf import io_utils

FLAG = "--hparams"


def field_names(settings_class):
    """The setting names a dataclass of hyperparameters accepts."""
    return {field.name for field in dataclasses.fields(settings_class)}


def check_keys(values, known, where):
    """Raises a ValueError naming `where` (a file, a file's section, or the flag) for keys not in `known`."""
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown hyperparameter(s) {unknown}; known: {sorted(known)}")


def parse_hparams(value, known):
    """`--hparams` → dict: None or "" give {}; a dict is taken as is; text ending in `.json` is a file path
    (read through `tf.io.gfile`), any other text is the JSON object itself. Unknown keys raise a ValueError."""
    if not value:
        return {}
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
    return dict(value)
