"""Every command README.md and docs/**/*.md show exists, and so does every flag they show for it.

The documents' commands (`python -m electra_tf.…`, `run_pretraining.py`, `run_finetuning.py`, in code blocks,
inline code and tables, with `\\` continuations) are collected, each command's real ``--helpfull`` is read (each
in a fork of one process that has imported TensorFlow: the `run_commands` fixture), and every ``--flag`` shown
(``--flag value``, ``--flag=value``, ``[--flag X]``, ``--noflag`` for a boolean) must be in it, so a renamed flag
or command cannot leave the documents stale.
"""

import bisect
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCUMENTS = ["README.md"] + sorted(os.path.relpath(path, ROOT) for path in
                                   glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))

# A command starts with `python -m electra_tf.X` (any python path) or one of the two wrapper scripts.
COMMAND = re.compile(r"(?:\S*python[\d.]*\s+-m\s+(electra_tf(?:\.\w+)*)|(?<![\w/.-])(?:\./)?(run_pretraining\.py|"
                     r"run_finetuning\.py))")
# A shown flag: `--name`, `--name=…`, `[--name …]`; not `---` rules or words after a dash inside values.
FLAG = re.compile(r"(?<![\w-])--([A-Za-z][\w-]*)")
# Where a command's arguments end: a shell comment, a pipe or list separator between commands.
END = re.compile(r"\s#|\s\|\s|;|&&|\|\|")
INLINE = re.compile(r"`([^`]+)`")
# absl's help lists each flag as "  --name: help", "  -v,--name: help" or, for a boolean, "  --[no]name: help".
HELP_FLAG_LINE = re.compile(r"^\s+(?:-\S,)?--(\[no\])?([A-Za-z0-9_][\w-]*):", re.MULTILINE)
FENCE = re.compile(r"^\s*(```|~~~)")


def code_segments(text):
    """(line number, code) of every code block line (continuations joined) and every inline code span."""
    segments = []
    lines = text.split("\n")
    in_fence = False
    paragraph, start = [], 0
    pending, pending_line = "", 0

    def flush_paragraph():
        # Inline code may wrap across lines of a paragraph: join them with spaces before matching.
        joined = " ".join(paragraph)
        offsets = [0]
        for text_line in paragraph:
            offsets.append(offsets[-1] + len(text_line) + 1)
        for match in INLINE.finditer(joined):
            line = start + bisect.bisect_right(offsets, match.start()) - 1
            segments.append((line, match.group(1)))
        paragraph.clear()

    for number, line in enumerate(lines, 1):
        if FENCE.match(line):
            flush_paragraph()
            in_fence = not in_fence
            continue
        is_code = in_fence or (line.startswith("    ") and not paragraph)
        if is_code:
            if not pending:
                pending_line = number
            stripped = line.rstrip()
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            segments.append((pending_line, pending + stripped))
            pending = ""
            continue
        if not line.strip():
            flush_paragraph()
            continue
        if not paragraph:
            start = number
        paragraph.append(line)
    flush_paragraph()
    if pending:
        segments.append((pending_line, pending))
    return segments


def documented_commands(documents=DOCUMENTS, root=ROOT):
    """{command: [(document:line, [flags shown])]}: `electra_tf.x` modules and the two wrapper scripts.

    Inline code that starts with a flag (prose such as "`--merge_vocab` appends …") is listed under the key
    `None`: such a flag must belong to one of the documented commands.
    """
    found = {}
    for document in documents:
        with open(os.path.join(root, document), encoding="utf-8") as handle:
            text = handle.read()
        for line, code in code_segments(text):
            if code.startswith("--"):
                found.setdefault(None, []).append((f"{document}:{line}", FLAG.findall(code)))
                continue
            starts = list(COMMAND.finditer(code))
            for index, match in enumerate(starts):
                stop = starts[index + 1].start() if index + 1 < len(starts) else len(code)
                arguments = code[match.end():stop]
                end = END.search(arguments)
                if end:
                    arguments = arguments[:end.start()]
                command = match.group(1) or match.group(2)
                shown = FLAG.findall(arguments)
                found.setdefault(command, []).append((f"{document}:{line}", shown))
    return found


def test_the_parser_reads_each_documented_form(tmp_path):
    (tmp_path / "doc.md").write_text(
        "Prose with `python -m electra_tf.export --input PATH\n--output_dir DIR` wrapped.\n\n"
        "    python -m electra_tf.vocab --input 'a/*.txt' \\\n"
        "        --output_dir=vocab/ [--num_unused 0] [--pretokenizer none|mecab] --noprogress  # --not_a_flag\n\n"
        "| a | `run_finetuning.py --task nsmc --hparams '{\"x\": 1}'` | `--scale tiny` |\n\n"
        "```\n.venv/bin/python -m electra_tf.prepare --dedupe && python run_pretraining.py --config c\n```\n",
        encoding="utf-8")
    found = documented_commands(["doc.md"], str(tmp_path))
    assert found == {
        "electra_tf.export": [("doc.md:1", ["input", "output_dir"])],
        "electra_tf.vocab": [("doc.md:4", ["input", "output_dir", "num_unused", "pretokenizer", "noprogress"])],
        "run_finetuning.py": [("doc.md:7", ["task", "hparams"])],
        "electra_tf.prepare": [("doc.md:10", ["dedupe"])],
        "run_pretraining.py": [("doc.md:10", ["config"])],
        None: [("doc.md:7", ["scale"])],
    }


def help_flags(help_text):
    """{flag name: is_boolean} from absl's ``--helpfull`` text (the docstring's own examples are not matched)."""
    return {match.group(2): bool(match.group(1)) for match in HELP_FLAG_LINE.finditer(help_text)}


def test_help_flags_reads_absl_help():
    help_text = ("Usage example:\n    --not_listed=1\n\nabsl.flags:\n  --input: Text file.\n"
                 "  -v,--verbosity: Logging verbosity.\n  --[no]progress: Show a progress bar.\n")
    assert help_flags(help_text) == {"input": False, "verbosity": False, "progress": True}


def _unknown(shown, accepted):
    """The flags of `shown` that `accepted` ({name: is_boolean}) does not take (`--noX` needs a boolean X)."""
    return [flag for flag in shown
            if flag not in accepted and not (flag.startswith("no") and accepted.get(flag[2:]) is True)]


def test_unknown_flags_are_caught():
    accepted = {"input": False, "progress": True}
    assert _unknown(["input", "noprogress", "noinput", "inputs"], accepted) == ["noinput", "inputs"]


def test_every_documented_command_and_flag_exists(run_commands):
    commands = documented_commands()
    mentions = commands.pop(None, [])
    assert {"electra_tf.pretraining", "run_finetuning.py", "electra_tf.export"} <= set(commands), (
        "the documents' commands were not found: the parser or the documents changed")
    helps = run_commands({command: ([command] if command.endswith(".py") else ["-m", command]) + ["--helpfull"]
                          for command in commands})
    problems, every_flag = [], {}
    for command, uses in sorted(commands.items()):
        flags = help_flags(helps[command].stdout)
        if not flags:
            output = helps[command].stdout + helps[command].stderr
            problems.append(f"{uses[0][0]}: `{command}` has no --helpfull: {output[-300:]}")
            continue
        every_flag.update(flags)
        for where, shown in uses:
            problems.extend(f"{where}: {command} has no --{flag}" for flag in _unknown(shown, flags))
    for where, shown in mentions:
        problems.extend(f"{where}: no documented command has --{flag}" for flag in _unknown(shown, every_flag))
    assert not problems, "\n".join(problems)


LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading):
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def test_relative_links_resolve():
    """Every relative link of README.md and docs/ names a file that exists (and a heading in it, with #anchor)."""
    problems = []
    for document in DOCUMENTS:
        with open(os.path.join(ROOT, document), encoding="utf-8") as handle:
            text = handle.read()
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(ROOT, os.path.dirname(document), path)) if path else \
                os.path.join(ROOT, document)
            if not os.path.exists(full):
                problems.append(f"{document}: {target}: no such file")
            elif anchor:
                with open(full, encoding="utf-8") as handle:
                    anchors = {_anchor(line.lstrip("#")) for line in handle if line.startswith("#")}
                if anchor not in anchors:
                    problems.append(f"{document}: {target}: no heading #{anchor}")
    assert not problems, "\n".join(problems)
