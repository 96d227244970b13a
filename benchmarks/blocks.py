"""The generated blocks of BENCHMARKS.md (issue 11), kept apart from running the benchmarks so it can be tested.

Each benchmark's own tables sit in the hand-written section they belong to, between two marker lines:

    <!-- bench:books:start -->
    (the command, machine, load and date of the run, then the tables its script printed)
    <!-- bench:books:end -->

`replace_block` rewrites the text between one benchmark's markers and nothing else; `report` picks from a
benchmark's output what goes there.
"""

from __future__ import annotations

import re

__all__ = ["MarkerError", "block_names", "markers", "replace_block", "report"]

_MARKER = re.compile(r"<!-- bench:([a-z0-9-]+):(start|end) -->")


class MarkerError(ValueError):
    """BENCHMARKS.md lacks a benchmark's markers, or holds them twice or in the wrong order."""


def markers(name: str) -> tuple[str, str]:
    """The start and end marker lines of the block named `name`."""
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def block_names(text: str, source: str = "BENCHMARKS.md") -> list[str]:
    """The names of the blocks in `text`, in order; a MarkerError when a block does not open and close once,
    in that order, without another block inside it."""
    names, open_name, open_at = [], None, 0
    for match in _MARKER.finditer(text):
        name, kind = match.groups()
        where = f"{source}, line {_line(text, match.start())}"
        if kind == "start":
            if open_name is not None:
                raise MarkerError(f"{where}: `{match[0]}` opens a block inside block {open_name!r} "
                                  f"(opened on line {_line(text, open_at)}); expected `{markers(open_name)[1]}` first")
            if name in names:
                raise MarkerError(f"{where}: block {name!r} appears twice; expected one block per benchmark")
            open_name, open_at = name, match.start()
        else:
            if open_name != name:
                expected = f"`{markers(open_name)[1]}`" if open_name else f"`{markers(name)[0]}` before it"
                raise MarkerError(f"{where}: `{match[0]}` closes no open block; expected {expected}")
            names.append(name)
            open_name = None
    if open_name is not None:
        raise MarkerError(f"{source}, line {_line(text, open_at)}: block {open_name!r} is never closed; "
                          f"expected `{markers(open_name)[1]}` after it")
    return names


def replace_block(text: str, name: str, body: str, source: str = "BENCHMARKS.md") -> str:
    """`text` with the lines between block `name`'s markers replaced by `body`; everything else as it was."""
    if name not in block_names(text, source):
        start, end = markers(name)
        raise MarkerError(f"{source}: no block {name!r}: expected a `{start}` line and a `{end}` line where its "
                          f"tables belong")
    start, end = markers(name)
    inside, closing = text.index(start) + len(start), text.index(end)
    return text[:inside] + "\n" + body.strip("\n") + "\n" + text[closing:]


def _is_table(line: str) -> bool:
    return line.startswith("|")


def _paragraph_start(lines: list[str], end: int, first: int) -> int:
    """Where the run of non-blank, non-table lines ending just before `end` begins (not before `first`)."""
    start = end
    while start > first and lines[start - 1].strip() and not _is_table(lines[start - 1]):
        start -= 1
    return start


def report(output: str) -> str:
    """What a benchmark's output contributes to its block: each markdown table, with the caption just above it
    (or, a blank line above it, a list of figures or a line standing alone) and the list of bullet points just
    after it (its ratios).
    Indented detail lines, such as per-seed values printed between rows, are left out. Empty without a table."""
    lines = [line.rstrip() for line in output.splitlines() if not line.startswith("    ")]
    kept: list[str] = []
    i = consumed = 0
    while i < len(lines):
        if not _is_table(lines[i]):
            i += 1
            continue
        before = _paragraph_start(lines, i, consumed)  # a caption right above the table
        if before == i and i - 1 >= consumed and not lines[i - 1].strip():  # or a blank line above it, then
            top = i - 1  # a list of figures
            while top > consumed and lines[top - 1].startswith("- "):
                top -= 1
            if top == i - 1 and _paragraph_start(lines, i - 1, consumed) == i - 2:  # or a line on its own
                top = i - 2
            before = top
        paragraph = [line for line in lines[before:i] if line]
        end = i
        while end < len(lines) and _is_table(lines[end]):
            end += 1
        after = end + 1 if end < len(lines) and not lines[end].strip() else end
        bullets = after
        while bullets < len(lines) and lines[bullets].startswith("- "):
            bullets += 1
        kept += [""] + (paragraph + [""] if paragraph else []) + lines[i:end]
        kept += [""] + lines[after:bullets] if bullets > after else []
        i = consumed = max(end, bullets)
    return "\n".join(kept).strip("\n")
