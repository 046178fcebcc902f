"""File helpers on `tf.io.gfile` (local paths and `gs://` alike): globbing, the one UTF-8 line reader, atomic
writes."""

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


READ_BLOCK_BYTES = 1024 * 1024


class InvalidUtf8:
    """Lines that held invalid UTF-8 (decoded with U+FFFD): their count and the first `limit` locations,
    each ``(path, byte_offset, line_number)``."""

    def __init__(self, limit=5):
        self.lines = 0
        self.locations = []
        self.limit = limit

    def add(self, path, offset, line_number):
        self.lines += 1
        if len(self.locations) < self.limit:
            self.locations.append((path, offset, line_number))


def read_line_blocks(path, start=0, end=None, invalid=None, on_read=None, block_bytes=READ_BLOCK_BYTES):
    """Yields the lines of bytes ``[start, end)`` of `path` (local or ``gs://``) in lists of whole lines.

    Lines end only at ``"\n"`` or ``"\r\n"`` (the break is dropped; a lone ``"\r"`` is text); `start` and
    `end` must be line starts or the file's ends (default: the whole file). Invalid UTF-8 is replaced by
    U+FFFD and each such line is added to `invalid` (an `InvalidUtf8`, its line number counted from `start`);
    without `invalid` it raises ``ValueError("path:line: not valid UTF-8")``. `on_read(num_bytes)` is called
    as bytes are read (for progress bars).
    """
    if end is None:
        end = tf.io.gfile.stat(path).length
    lines_before = 0
    with tf.io.gfile.GFile(path, "rb") as handle:
        handle.seek(start)
        position, carry = start, b""
        while position < end:
            block = handle.read(min(block_bytes, end - position))
            if not block:
                break
            if on_read:
                on_read(len(block))
            block_start = position - len(carry)
            position += len(block)
            block = carry + block
            cut = len(block) if position >= end else block.rfind(b"\n") + 1
            block, carry = block[:cut], block[cut:]
            lines = _decode_lines(block, path, block_start, lines_before, invalid)
            lines_before += len(lines)
            yield lines
        if carry:
            yield _decode_lines(carry, path, position - len(carry), lines_before, invalid)


def _decode_lines(block, path, block_start, lines_before, invalid):
    """The lines of `block`, whole lines of `path` from byte `block_start`, after `lines_before` lines."""
    if not block:
        return []
    try:
        text = block.decode("utf-8")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
    except UnicodeDecodeError:
        lines, offset = [], block_start
        for number, raw in enumerate(block.split(b"\n"), start=lines_before + 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                if invalid is None:
                    raise ValueError(f"{path}:{number}: not valid UTF-8 ({error.reason})") from error
                invalid.add(path, offset, number)
                line = raw.decode("utf-8", errors="replace")
            offset += len(raw) + 1
            lines.append(line[:-1] if line.endswith("\r") and offset <= block_start + len(block) else line)
    if block.endswith(b"\n"):
        lines.pop()
    return lines


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


def copy_file(source, path):
    """Copies `source` to a temporary sibling of `path` (server-side on object stores), then renames it onto
    `path`: a reader sees the whole file or none."""
    parent = os.path.dirname(path)
    if parent:
        tf.io.gfile.makedirs(parent)
    temporary = _temporary_sibling(path)
    try:
        tf.io.gfile.copy(source, temporary, overwrite=True)
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
