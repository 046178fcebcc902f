"""File helpers on `tf.io.gfile` (local paths and `gs://` alike): globbing, the one UTF-8 line reader, atomic
writes."""

import contextlib
import json
import os
import uuid

import tensorflow as tf


def path_error(kind, message, path):
    """`kind(message)` (an `OSError` subclass, or `ValueError` for bad content) with the attribute `path`: `cli`
    names the flag that gave it. (Not `filename`, which would make an `OSError` read ``[Errno None] None: …``.)"""
    error = kind(message)
    error.path = path
    return error


_OS_ERROR_KINDS = ((tf.errors.NotFoundError, FileNotFoundError), (tf.errors.PermissionDeniedError, PermissionError),
                   (tf.errors.AlreadyExistsError, FileExistsError))


def as_os_error(error):
    """A `tf.io.gfile` error (``"PATH; Reason"``, ``"PATH is not a directory"``) as the matching `OSError`
    subclass (`path_error`, ``"PATH: Reason"``); None for other errors."""
    message = error.message if isinstance(error, tf.errors.OpError) else ""
    kind = next((python for gfile, python in _OS_ERROR_KINDS if isinstance(error, gfile)), None)
    if isinstance(error, tf.errors.FailedPreconditionError):
        if message.endswith(" is not a directory"):
            return path_error(NotADirectoryError, message, message[: -len(" is not a directory")])
        if message.endswith("; Is a directory"):
            kind = IsADirectoryError
    path, separator, reason = message.rpartition("; ")
    if kind is None or not separator or "/" not in path or "\n" in path:
        return None
    return path_error(kind, f"{path}: {reason}", path)


def expand_globs(patterns):
    """Returns the sorted files matched by one or more glob patterns; raises if one matches nothing (naming a
    directory given instead of its files)."""
    if isinstance(patterns, str):
        patterns = [patterns]
    files = []
    for pattern in patterns:
        matched = sorted(tf.io.gfile.glob(pattern))
        matched = [path for path in matched if not tf.io.gfile.isdir(path)]
        if not matched:
            if tf.io.gfile.isdir(pattern):
                raise path_error(IsADirectoryError, f"{pattern!r} is a directory; give files or a glob, e.g. "
                                 f"'{pattern.rstrip('/')}/*.txt'", pattern)
            raise path_error(FileNotFoundError, f"No file matches input pattern {pattern!r}", pattern)
        files.extend(matched)
    return files


def existing_file(path, inside=None):
    """`path` when it is a file, or `path/inside` when `path` is a directory holding that file; raises
    `FileNotFoundError` / `IsADirectoryError` naming `path` otherwise."""
    if inside and tf.io.gfile.isdir(path):
        candidate = os.path.join(path, inside)
        if tf.io.gfile.exists(candidate) and not tf.io.gfile.isdir(candidate):
            return candidate
        raise path_error(IsADirectoryError, f"{path} is a directory without {inside}", path)
    if tf.io.gfile.isdir(path):
        raise path_error(IsADirectoryError, f"{path} is a directory; give a file", path)
    if not tf.io.gfile.exists(path):
        raise path_error(FileNotFoundError, f"{path}: no such file", path)
    return path


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


INCOMPLETE = "incomplete"  # `.NAME.incomplete-PID-RAND`: work in progress for NAME, beside it
BACKUP = "old"  # `.NAME.old-PID-RAND`: the earlier NAME while a directory is swapped


def _is_local(path):
    return "://" not in path


def _partial_sibling(path, kind=INCOMPLETE):
    """A fresh hidden sibling of `path` that names this process, e.g. ``.out.incomplete-1234-0a1b2c3d``."""
    parent, name = os.path.split(path.rstrip("/"))
    return os.path.join(parent, f".{name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _is_stale(name, local):
    """Whether a partial sibling called `name` was left by a run that no longer works on it: locally, its
    process is gone; elsewhere (``gs://``, where process ids mean nothing) always: a re-run of the same
    output takes over (two runs must not write one output at the same time)."""
    if not local:
        return True
    try:
        pid = int(name.rsplit("-", 2)[-2])
    except (IndexError, ValueError):
        return False
    return pid != os.getpid() and not _pid_alive(pid)


def remove_stale_partials(path):
    """Removes partial work for `path` left by killed runs (see `_is_stale`); an earlier directory that a
    killed swap had moved aside is put back when `path` is missing. Returns the removed paths."""
    path = path.rstrip("/")
    parent, name = os.path.split(path)
    parent = parent or "."
    if not tf.io.gfile.isdir(parent):
        return []
    local, removed = _is_local(path), []
    prefixes = {kind: f".{name}.{kind}-" for kind in (INCOMPLETE, BACKUP)}
    for entry in sorted(tf.io.gfile.listdir(parent)):
        entry = entry.rstrip("/")
        kind = next((kind for kind, prefix in prefixes.items() if entry.startswith(prefix)), None)
        if kind is None or not _is_stale(entry, local):
            continue
        stale = os.path.join(parent, entry)
        if kind == BACKUP and not tf.io.gfile.exists(path):
            tf.io.gfile.rename(stale, path)
            continue
        _remove(stale)
        removed.append(stale)
    return removed


def _renamed(error, temporary, path):
    """`error` (an `OSError` or a `tf.io.gfile` error) with the temporary name `temporary` replaced by `path`,
    as an `OSError` subclass; None when it does not name `temporary`."""
    if isinstance(error, tf.errors.OpError):
        error = as_os_error(error)
    if not isinstance(error, OSError):
        return None
    filename = str(getattr(error, "path", None) or error.filename or "")
    message = f"{filename}: {error.strerror}" if error.filename and error.strerror else str(error)
    if temporary not in message:
        return None
    return path_error(type(error), message.replace(temporary, path), filename.replace(temporary, path) or path)


@contextlib.contextmanager
def _naming(temporary, path):
    """Errors of the block that name the temporary sibling `temporary` name `path` instead (what the user gave)."""
    try:
        yield
    except (tf.errors.OpError, OSError) as error:
        renamed = _renamed(error, temporary, path)
        if renamed is None:
            raise
        raise renamed from error


def _make_parent(path):
    """Creates the parent directories of `path`; a failure names `path` (what the user gave), not a parent."""
    parent = os.path.dirname(path.rstrip("/"))
    if not parent:
        return
    try:
        tf.io.gfile.makedirs(parent)
    except (tf.errors.OpError, OSError) as error:
        converted = as_os_error(error) if isinstance(error, tf.errors.OpError) else error
        if converted is None:
            raise
        raise path_error(type(converted), f"cannot create {path}: {converted}", path) from error


@contextlib.contextmanager
def _partial_file(path):
    """Yields a temporary sibling of `path` to write (partial files of killed runs are removed first) and
    renames it onto `path` only on success: a reader sees the whole file or none."""
    _make_parent(path)
    remove_stale_partials(path)
    temporary = _partial_sibling(path)
    try:
        with _naming(temporary, path):
            yield temporary
            tf.io.gfile.rename(temporary, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.remove(temporary)


@contextlib.contextmanager
def atomic_file(path, mode="w"):
    """Opens `path` for writing through a temporary sibling (see `_partial_file`). The temporary file is
    created at once (`tf.io.gfile` creates it at the first write): an unwritable place fails before any work,
    and writing nothing makes an empty file."""
    with _partial_file(path) as temporary:
        with tf.io.gfile.GFile(temporary, mode) as handle:
            handle.write(b"" if "b" in mode else "")
            yield handle


def copy_file(source, path):
    """Copies `source` to `path` through a temporary sibling (server-side on object stores)."""
    with _partial_file(path) as temporary:
        tf.io.gfile.copy(source, temporary, overwrite=True)


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
        raise path_error(FileNotFoundError, f"Missing file: {path}", path)
    with tf.io.gfile.GFile(path, "r") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as error:
            raise path_error(ValueError, f"{path}: invalid JSON at line {error.lineno}: {error.msg}", path) from error


@contextlib.contextmanager
def partial_directory(path):
    """Yields a new empty sibling directory of `path` for work in progress (``.NAME.incomplete-PID-RAND``,
    never inside `path`), after removing the partial work of killed runs; it is removed when the block ends,
    unless the block renamed it away. Errors naming it name `path` instead; `path` must not be a file (a
    directory would replace it)."""
    path = path.rstrip("/")
    if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path):
        raise path_error(NotADirectoryError, f"{path} is a file, not a directory", path)
    _make_parent(path)
    remove_stale_partials(path)
    temporary = _partial_sibling(path)
    try:
        with _naming(temporary, path):
            tf.io.gfile.makedirs(temporary)
            yield temporary
    finally:
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.rmtree(temporary)


def check_directory_writable(path):
    """Fails now, naming `path`, when the directory `path` cannot be made beside its siblings (a file is in the
    way, the parent is read-only), so that a long job fails before its work rather than after; leaves nothing
    but missing parent directories behind."""
    with partial_directory(path):
        pass


def _names(directory):
    return [name.rstrip("/") for name in tf.io.gfile.listdir(directory)] if tf.io.gfile.isdir(directory) else []


def _remove(path):
    if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
    else:
        tf.io.gfile.remove(path)


def _files(directory):
    """The relative paths of the files under `directory` (none when it is missing)."""
    if not tf.io.gfile.isdir(directory):
        return []
    root = directory.rstrip("/")
    return sorted(os.path.join(folder.rstrip("/")[len(root):].strip("/"), name)
                  for folder, _, names in tf.io.gfile.walk(root) for name in names)


def replace_directory(source, path, keep=None):
    """Puts directory `source` in place of `path`, keeping each file of the earlier `path` (at any depth) that
    `source` lacks and whose relative path `keep(relative)` accepts; without `keep` nothing is kept.

    Locally this is two renames (the earlier `path` waits aside as ``.NAME.old-PID-RAND``, which
    `remove_stale_partials` puts back if a kill comes between them; kept files are copied first). On object
    stores (``gs://``) each file is renamed into place one by one and the earlier files not kept are removed.
    """
    path = path.rstrip("/")
    new = set(_files(source))
    old = [relative for relative in _files(path) if relative not in new]
    kept = [relative for relative in old if keep and keep(relative) and not _blocked(source, relative)]
    if _is_local(path):
        for relative in kept:
            tf.io.gfile.makedirs(os.path.dirname(os.path.join(source, relative)))
            tf.io.gfile.copy(os.path.join(path, relative), os.path.join(source, relative), overwrite=True)
        backup = None
        if os.path.exists(path):
            backup = _partial_sibling(path, BACKUP)
            os.replace(path, backup)
        os.replace(source, path)
        if backup:
            tf.io.gfile.rmtree(backup)
        return
    for relative in old:
        if relative not in kept:
            tf.io.gfile.remove(os.path.join(path, relative))
    for relative in new:
        tf.io.gfile.makedirs(os.path.dirname(os.path.join(path, relative)))
        tf.io.gfile.rename(os.path.join(source, relative), os.path.join(path, relative), overwrite=True)
    tf.io.gfile.rmtree(source)


def _blocked(source, relative):
    """Whether `source` holds something where the file `relative` would go: a file where one of its parent
    directories would be, or a directory in its place."""
    parts = relative.split("/")
    for depth in range(1, len(parts)):
        parent = os.path.join(source, *parts[:depth])
        if tf.io.gfile.exists(parent) and not tf.io.gfile.isdir(parent):
            return True
    return tf.io.gfile.exists(os.path.join(source, relative))


def check_replaceable(path, is_earlier, kind):
    """Raises unless `path` is missing, an empty directory or, per `is_earlier(path)`, an earlier output of
    this `kind`: a writer must not take over a directory of other files."""
    if not tf.io.gfile.isdir(path):
        return  # missing, or a file: `partial_directory` refuses it
    if _names(path) and not is_earlier(path):
        raise path_error(FileExistsError, f"{path} is not empty and holds no earlier {kind}: refusing to write over "
                         "files this export did not write (give a new or empty directory)", path)


@contextlib.contextmanager
def atomic_directory(path, keep=None):
    """Yields a temporary sibling directory that replaces `path` (`replace_directory`, with `keep`) only when
    the block finishes without error; a kill at any moment leaves `path` as it was or complete (locally), and
    the next use of `path` removes the leftovers."""
    with partial_directory(path) as temporary:
        yield temporary
        replace_directory(temporary, path, keep)
