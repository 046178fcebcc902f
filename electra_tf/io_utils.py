"""File helpers on `tf.io.gfile` (local paths and `gs://` alike): globbing and atomic writes."""

import contextlib
import json
import os
import uuid

import tensorflow as tf


def expand_globs(patterns):
    """Returns the sorted files matched by one or more glob patterns; raises if one matches nothing."""
    if isinstance(patterns, str):
        patterns = [patterns]
    files = []
    for pattern in patterns:
        matched = sorted(tf.io.gfile.glob(pattern))
        matched = [path for path in matched if not tf.io.gfile.isdir(path)]
        if not matched:
            raise FileNotFoundError(f"No file matches input pattern {pattern!r}")
        files.extend(matched)
    return files


def _temporary_sibling(path):
    parent, name = os.path.split(path.rstrip("/"))
    return os.path.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_file(path, mode="w"):
    """Opens a temporary sibling of `path` for writing and renames it onto `path` only on success."""
    parent = os.path.dirname(path)
    if parent:
        tf.io.gfile.makedirs(parent)
    temporary = _temporary_sibling(path)
    try:
        with tf.io.gfile.GFile(temporary, mode) as handle:
            yield handle
        tf.io.gfile.rename(temporary, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.remove(temporary)


def write_json(path, value):
    """Writes `value` as indented UTF-8 JSON, atomically."""
    with atomic_file(path) as handle:
        handle.write(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


def report(text, path=None):
    """Prints `text` and, when `path` is given, also writes it there (atomically)."""
    print(text)
    if path:
        with atomic_file(path) as handle:
            handle.write(text + "\n")


def read_json(path):
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"Missing file: {path}")
    with tf.io.gfile.GFile(path, "r") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") from error


def _is_local(path):
    return "://" not in path


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary directory that replaces `path` only when the block finishes without error.

    Locally the swap is two renames, so an earlier directory survives any failure. On object stores
    (`gs://`) each file is renamed into place one by one, after everything was written.
    """
    path = path.rstrip("/")
    temporary = _temporary_sibling(path)
    tf.io.gfile.makedirs(temporary)
    try:
        yield temporary
        if _is_local(path):
            backup = None
            if os.path.exists(path):
                backup = _temporary_sibling(path) + ".old"
                os.replace(path, backup)
            os.replace(temporary, path)
            if backup:
                tf.io.gfile.rmtree(backup)
        else:
            tf.io.gfile.makedirs(path)
            for name in tf.io.gfile.listdir(temporary):
                tf.io.gfile.rename(os.path.join(temporary, name), os.path.join(path, name), overwrite=True)
    finally:
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.rmtree(temporary)
