"""The configs shipped inside the package (`electra_tf/configs/{pretrain,finetune,recipes}/*.json`, package data
read with `importlib.resources`), so that presets and recipes are found after `pip install`, from any directory.

A checkout also has them at `configs/` (a symlink), the paths the documentation shows; `resolve` turns what a
user typed after `--config` or `--recipe` into a file: an existing path as given, else a packaged config named
by its bare name (`tiny`) or by its path below `configs/` (`pretrain/tiny.json`, `configs/pretrain/tiny.json`).
"""

import importlib.resources

import tensorflow as tf

KINDS = ("pretrain", "finetune", "recipes")
PREFIX = "configs/"


def packaged_dir(kind=None):
    """The packaged configs directory (or its `kind` subdirectory) as a path string."""
    root = importlib.resources.files("electra_tf").joinpath("configs")
    return str(root.joinpath(kind) if kind else root)


def names(kind):
    """The bare names of the packaged configs of `kind` (`pretrain`, `finetune` or `recipes`), sorted."""
    folder = importlib.resources.files("electra_tf").joinpath("configs", kind)
    return sorted(entry.name[:-5] for entry in folder.iterdir() if entry.name.endswith(".json"))


def packaged(kind, name_or_path):
    """The packaged file that `name_or_path` names (see the module doc), or None when there is none."""
    relative = name_or_path[len(PREFIX):] if name_or_path.startswith(PREFIX) else name_or_path
    parts = relative.split("/") if "/" in relative else [kind, relative]
    if not parts[-1].endswith(".json"):
        parts[-1] += ".json"
    if parts[0] not in KINDS or ".." in parts:
        return None
    entry = importlib.resources.files("electra_tf").joinpath("configs", *parts)
    return str(entry) if entry.is_file() else None


def resolve(name_or_path, kind, flag="--config"):
    """The config file `flag` names: an existing path as given, else a packaged `kind` config (see `packaged`).

    Raises FileNotFoundError naming the flag and the packaged names when it is neither.
    """
    if tf.io.gfile.exists(name_or_path) and not tf.io.gfile.isdir(name_or_path):
        return name_or_path
    path = packaged(kind, name_or_path)
    if path is None:
        raise FileNotFoundError(f"{flag}: no file {name_or_path!r} and no packaged {kind} config of that name "
                                f"(packaged: {', '.join(names(kind))})")
    return path
