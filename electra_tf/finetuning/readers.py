"""Line-oriented readers for the benchmark files: every bad row is reported as `path:line: reason`.

`RowErrors` either raises at the first malformed row or, with `skip_bad_rows`, counts the row and moves on;
either way the caller sees which file and line were wrong.
"""

import csv
import io
import json
import logging

import tensorflow as tf


class BadRowError(ValueError):
    """A malformed input row; the message starts with `path:line:`."""


class EmptySplitError(ValueError):
    """A split file that holds no usable example."""


class MissingLabelsError(ValueError):
    """A split that must be labelled (dev: it selects the best epoch) but is not."""


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


def _read_text(path):
    """The whole UTF-8 file (a byte-order mark dropped); undecodable bytes are reported with their line."""
    require_file(path)
    with tf.io.gfile.GFile(path, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise BadRowError(f"{path}:{line}: not valid UTF-8 ({error.reason})") from error


def read_lines(path):
    """Yields `(line_number, line)` (1-based, without the line break) of a UTF-8 text file. Lines end at `\n`
    or `\r\n` only (not at U+2028, U+0085, form feeds, ... as `str.splitlines` does), so numbers match editors."""
    lines = _read_text(path).split("\n")
    if lines[-1] == "":
        lines.pop()  # the final line break ends the last line, it does not start a new one
    for number, line in enumerate(lines, start=1):
        yield number, line[:-1] if line.endswith("\r") else line


def read_delimited(path, errors, header=None, delimiter="\t"):
    """Yields `(line_number, row)` of a TSV (plain tab split, quotes are text) or CSV (`delimiter=","`, RFC 4180
    quoting) file. `header` (a list of names, or a function from the header's names to that list) means the first
    line is a header that must contain them, and rows (with as many fields as the header) come back as dicts by
    name; otherwise rows are lists of fields. Blank lines are skipped."""
    lines = read_lines(path)
    if delimiter == "\t":
        rows = ((number, line.split("\t")) for number, line in lines if line.strip())
    else:
        rows = _csv_rows(lines, delimiter, errors)
    columns = None
    for number, fields in rows:
        if header is not None and columns is None:
            columns = [name.strip() for name in fields]
            required = header(columns) if callable(header) else header
            missing = [name for name in required if name not in columns]
            if missing:
                raise BadRowError(
                    f"{path}:{number}: header {columns} lacks column(s) {missing} (expected a header naming "
                    f"{required})")
            continue
        if columns is not None and len(fields) != len(columns):
            errors.bad(number, f"expected {len(columns)} columns, found {len(fields)}")
            continue
        yield number, dict(zip(columns, fields)) if columns is not None else fields
    if header is not None and columns is None:
        raise EmptySplitError(f"{path} is empty: expected a header line"
                              + ("" if callable(header) else f" naming {header}"))


def _csv_rows(lines, delimiter, errors):
    text = "\n".join(line for _, line in lines)
    reader = csv.reader(io.StringIO(text, newline="\n"), delimiter=delimiter)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # e.g. a bare carriage return inside an unquoted field
            errors.bad(reader.line_num, f"unreadable CSV row ({error})")
            continue
        if any(field.strip() for field in fields):
            yield reader.line_num, fields


def read_json_records(path):
    """Yields `(line_number, record)` for each element of a file holding one JSON array (KLUE's files), the
    line number being where the element starts, so errors name the line an editor shows."""
    text = _read_text(path)
    decoder = json.JSONDecoder()
    line, counted = 1, 0  # the line number at text[counted]

    def line_at(position):
        nonlocal line, counted
        line, counted = line + text.count("\n", counted, position), position
        return line

    position = _skip_space(text, 0)
    if not text.startswith("[", position):
        raise BadRowError(f"{path}:{line_at(position)}: expected a JSON array of records")
    position = _skip_space(text, position + 1)
    while not text.startswith("]", position):
        start = line_at(position)
        try:
            record, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise BadRowError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from error
        yield start, record
        position = _skip_space(text, position)
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
        elif not text.startswith("]", position):
            raise BadRowError(f"{path}:{line_at(position)}: expected ',' or ']' after a record")


def _skip_space(text, position):
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position
