"""Line-oriented readers for the benchmark files: every bad row is reported as `path:line: reason`.

`RowErrors` either raises at the first malformed row or, with `skip_bad_rows`, counts the row and moves on;
either way the caller sees which file and line were wrong.
"""

import csv
import io
import logging

import tensorflow as tf


class BadRowError(ValueError):
    """A malformed input row; the message starts with `path:line:`."""


class EmptySplitError(ValueError):
    """A split file that holds no usable example."""


class RowErrors:
    """Collects (or raises) malformed-row errors of one file."""

    def __init__(self, path, skip_bad_rows=False, max_logged=10):
        self.path = path
        self.skip_bad_rows = skip_bad_rows
        self.max_logged = max_logged
        self.bad_rows = []

    def bad(self, line_number, reason):
        message = f"{self.path}:{line_number}: {reason}"
        if not self.skip_bad_rows:
            raise BadRowError(message + " (pass --skip_bad_rows to skip such rows)")
        if len(self.bad_rows) < self.max_logged:
            logging.warning("Skipping bad row %s", message)
        self.bad_rows.append(message)


def require_file(path, what="input file"):
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"Missing {what}: {path}")
    return path


def read_lines(path):
    """Yields `(line_number, line)` (1-based, without the line break) of a UTF-8 text file."""
    require_file(path)
    with tf.io.gfile.GFile(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise BadRowError(f"{path}:{line}: not valid UTF-8 ({error.reason})") from error
    for number, line in enumerate(text.splitlines(), start=1):
        yield number, line


def read_delimited(path, errors, header=None, num_columns=None, delimiter="\t"):
    """Yields `(line_number, row)` of a TSV (plain tab split, quotes are text) or CSV (`delimiter=","`, RFC 4180
    quoting) file. `header` (a list of names) means the first line is a header that must contain them, and
    rows come back as dicts by name; otherwise rows are lists of `num_columns` fields. Blank lines are skipped."""
    lines = read_lines(path)
    if delimiter == "\t":
        rows = ((number, line.split("\t")) for number, line in lines if line.strip())
    else:
        rows = _csv_rows(lines, delimiter)
    columns = None
    for number, fields in rows:
        if header is not None and columns is None:
            columns = [name.strip() for name in fields]
            missing = [name for name in header if name not in columns]
            if missing:
                raise BadRowError(
                    f"{path}:{number}: header {columns} lacks column(s) {missing} (expected a header naming "
                    f"{header})")
            continue
        expected = len(columns) if columns is not None else num_columns
        if expected is not None and len(fields) != expected:
            errors.bad(number, f"expected {expected} columns, found {len(fields)}")
            continue
        yield number, dict(zip(columns, fields)) if columns is not None else fields
    if header is not None and columns is None:
        raise EmptySplitError(f"{path} is empty: expected a header line naming {header}")


def _csv_rows(lines, delimiter):
    numbered = list(lines)
    text = "\n".join(line for _, line in numbered)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for fields in reader:
        number = reader.line_num
        if not any(field.strip() for field in fields):
            continue
        yield number, fields
