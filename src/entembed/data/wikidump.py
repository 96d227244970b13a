"""MediaWiki XML dumps -> the books NDJSON layout: every article that uses an infobox template, one JSON array a line.

Each line is ``[title, infobox fields, wikilinks, external links, revision timestamp, text length]``, the layout
`read_books` reads, so any infobox type (books, films, albums...) becomes an entity data set. Dumps are streamed
(bz2 or plain XML, single-file or multi-part), never loaded whole; pages are parsed with mwparserfromhell over
all cores; the output is written to a temporary file beside it and renamed when complete.

What a record holds, and why:

- only main-namespace (ns 0) pages that are not redirects, using the template under any spelling MediaWiki
  accepts (case, spaces or underscores, a ``Template:`` prefix) or one of its redirects (TEMPLATE_ALIASES, plus
  ``aliases`` given by the caller); the first such template on the page is the infobox;
- infobox values are plain text (``strip_code``, whitespace collapsed). When that leaves nothing, as for a value
  that is only a template (``{{Start date|1989|5|1}}``), the template parameters are kept as text
  (``1989 5 1``) rather than losing the field; fields still empty are left out, as the reference did;
- wikilinks are target titles in page order, repeats kept (the reference's layout): section anchors removed,
  underscores turned to spaces, the first letter upper-cased as MediaWiki does, namespace prefixes written in
  their canonical form (``category:x`` -> ``Category:X``, ``Image:`` -> ``File:``) so file and category links
  stay distinguishable by their prefix; a leading colon (``[[:Category:X]]``) is dropped; interwiki and
  language links (``wikt:word``, ``de:Titel``) are kept as written; links to a section of the page itself
  are dropped;
- the text length is the length of the page's plain text (``strip_code``), as the reference measured it.
"""

from __future__ import annotations

import bz2
import json
import os
import re
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ..atomic import atomic_file, temporary_name
from ..errors import InputError, MissingExtraError, check_positive_int

__all__ = ["ExtractStats", "TEMPLATE_ALIASES", "extract_infobox_pages", "template_names"]

#: Common redirects of a template, by normalised name (lower case, single spaces). Case, spacing and
#: underscore variants need no entry; pass others with ``aliases=`` (``--alias`` on the command line).
TEMPLATE_ALIASES: dict[str, tuple[str, ...]] = {
    "infobox book": ("infobox novel", "book infobox", "novel infobox", "infobox book/new", "infobox books"),
    "infobox film": ("infobox movie", "film infobox", "infobox feature film"),
}

#: English namespace names and aliases, used as-is and extended by the names a dump's <siteinfo> declares.
_NAMESPACES = {name.casefold(): name for name in (
    "Media", "Special", "Talk", "User", "User talk", "Wikipedia", "Wikipedia talk", "File", "File talk",
    "MediaWiki", "Template", "Template talk", "Help", "Help talk", "Category", "Category talk", "Portal",
    "Draft", "Module", "TimedText")}
_NAMESPACES.update({"image": "File", "image talk": "File talk", "wp": "Wikipedia", "project": "Wikipedia"})

_PAGES_PER_BATCH = 2000  # pages read before a batch goes to a worker (and the progress bar moves)
_MATCHES_PER_BATCH = 32  # or fewer pages, once this many candidate pages are waiting
_READ_SIZE = 1 << 20  # bytes read from the dump file at a time
_INTERWIKI = re.compile(r"[a-z][a-z-]*")
_SPACES = re.compile(r"[\s_]+")


@dataclass
class ExtractStats:
    """What one extraction read and wrote."""

    files: int
    pages: int  # pages read, every namespace
    matches: int  # records written
    seconds: float
    output: Path

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0


def _normalise_name(name: str) -> str:
    """A template name as MediaWiki compares it, case folded: ' infobox_Book ' -> 'infobox book'."""
    name = _SPACES.sub(" ", name).strip().casefold()
    if name.startswith("template:"):
        name = name[len("template:"):].strip()
    return name


def template_names(template: str, aliases: Iterable[str] = ()) -> frozenset[str]:
    """The normalised names that count as ``template``: itself, its known redirects and ``aliases``."""
    key = _normalise_name(template)
    if not key:
        raise InputError(f"template must name an infobox template, such as 'Infobox book'. Got {template!r} instead.", param="template")
    return frozenset({key, *TEMPLATE_ALIASES.get(key, ()), *(_normalise_name(a) for a in aliases)} - {""})


def _candidate_pattern(names: frozenset[str]) -> re.Pattern[str]:
    """A fast pattern finding pages that may use one of ``names``; mwparserfromhell then confirms."""
    words = sorted((r"[\s_]+".join(re.escape(w) for w in name.split(" ")) for name in names), key=len, reverse=True)
    pattern = r"\{\{[\s_]*(?:template[\s_]*:[\s_]*)?(?:%s)[\s_]*(?:\||\}\}|<!--)" % "|".join(words)
    return re.compile(pattern, re.IGNORECASE)


# ---------------------------------------------------------------------------------------------- reading

def _dump_order(paths: list[Path]) -> list[Path]:
    """Multi-part dumps (``...-p1p41242.bz2``) in page order when every name carries its range, else as given."""
    starts = [re.search(r"-p(\d+)p\d+", p.name) for p in paths]
    if len(paths) > 1 and all(starts):
        return [p for _, p in sorted(zip((int(m.group(1)) for m in starts), paths), key=lambda x: x[0])]
    return paths


class _DumpReader:
    """Streams one dump's pages and yields batches ``(pages read, [(title, timestamp, text), ...])``.

    Only main-namespace, non-redirect pages whose text matches ``pattern`` are kept as candidates. Bad input
    ends the batches (the last one holds every page read before the fault) and then raises InputError naming
    the file, where it broke and the last complete page.
    """

    def __init__(self, path: Path, pattern: re.Pattern[str]):
        self.path = path
        self.pattern = pattern
        self.namespaces = dict(_NAMESPACES)
        self.pages = 0
        self.last_title: str | None = None
        self.in_page = False
        self.file_offset = 0  # bytes of the file read so far
        self.xml_offset = 0  # bytes of XML parsed so far

    def __iter__(self) -> Iterator[tuple[int, list[tuple[str, str, str]]]]:
        batch: list[tuple[str, str, str]] = []
        pages_in_batch = 0
        error = None
        try:
            for candidate in self._pages():
                pages_in_batch += 1
                if candidate is not None:
                    batch.append(candidate)
                if pages_in_batch >= _PAGES_PER_BATCH or len(batch) >= _MATCHES_PER_BATCH:
                    yield pages_in_batch, batch
                    batch, pages_in_batch = [], 0
        except InputError as exc:
            error = exc
        if batch or pages_in_batch:
            yield pages_in_batch, batch
        if error is not None:
            raise error

    def _pages(self) -> Iterator[tuple[str, str, str] | None]:
        """Parse the XML; yield each page read: ``(title, timestamp, text)`` for a candidate, else None."""
        parser = ET.XMLPullParser(events=("start", "end"))
        root = None
        prefix = ""
        try:
            for data in self._chunks():
                parser.feed(data)
                self.xml_offset += len(data)
                for event, elem in parser.read_events():
                    if event == "start":
                        if root is None:
                            root, prefix = elem, self._check_root(elem.tag)
                        elif elem.tag == prefix + "page":
                            self.in_page = True
                    elif elem.tag == prefix + "page":
                        self.in_page = False
                        candidate = self._page(elem, prefix)
                        root.clear()  # the page is done: drop it from the tree so memory stays flat
                        yield candidate
                    elif elem.tag == prefix + "namespace" and elem.text:
                        self.namespaces[elem.text.casefold()] = elem.text
            parser.close()
        except ET.ParseError as exc:
            line, column = exc.position
            reason = str(exc).split(":")[0]
            if root is None:
                raise InputError(f"{self.path}: not an XML file ({reason} at line {line}, column {column}); expected "
                                 "a MediaWiki XML export, plain or bz2-compressed.") from None
            if "no element found" in reason:
                inside = "in the middle of a page" if self.in_page else "before the end of the dump"
                raise InputError(f"{self.path}: the XML is truncated: it ends at byte {self.xml_offset:,} {inside}, "
                                 f"{self._after()}.") from None
            raise InputError(f"{self.path}: malformed XML at line {line}, column {column} ({reason}), "
                             f"{self._after()}.") from None

    def _check_root(self, tag: str) -> str:
        """The XML namespace prefix of the export's tags, after checking the root is <mediawiki>."""
        prefix, _, name = tag.rpartition("}")
        if name != "mediawiki":
            raise InputError(f"{self.path}: the XML's root element is <{name}>; expected a MediaWiki XML export, "
                             "whose root element is <mediawiki>.")
        return prefix + "}" if prefix else ""

    def _chunks(self) -> Iterator[bytes]:
        """The dump's XML bytes, decompressed when the file is bz2 (one or many concatenated streams)."""
        with open(self.path, "rb") as handle:
            data = handle.read(_READ_SIZE)
            if not data.startswith(b"BZh"):
                while data:
                    self.file_offset += len(data)
                    yield data
                    data = handle.read(_READ_SIZE)
                return
            decompressor = bz2.BZ2Decompressor()
            while data:
                try:
                    out = decompressor.decompress(data)
                    while decompressor.eof and decompressor.unused_data:  # the next concatenated stream
                        rest = decompressor.unused_data
                        decompressor = bz2.BZ2Decompressor()
                        out += decompressor.decompress(rest)
                except OSError:
                    raise InputError(f"{self.path}: damaged bz2 data between bytes {self.file_offset:,} and "
                                     f"{self.file_offset + len(data):,} of the file, {self._after()}; expected a "
                                     "bz2-compressed MediaWiki XML dump.") from None
                self.file_offset += len(data)
                if out:
                    yield out
                data = handle.read(_READ_SIZE)
            if not decompressor.eof:
                raise InputError(f"{self.path}: the bz2 data ends at byte {self.file_offset:,} in the middle of a "
                                 f"compressed stream (a truncated download?), {self._after()}.")

    def _after(self) -> str:
        if self.last_title is None:
            return "before the first complete page"
        return f"after page {self.pages:,} ({self.last_title!r})"

    def _page(self, page: ET.Element, prefix: str) -> tuple[str, str, str] | None:
        self.pages += 1
        title = page.findtext(prefix + "title") or ""
        self.last_title = title
        if (page.findtext(prefix + "ns") or "0").strip() != "0" or page.find(prefix + "redirect") is not None:
            return None
        revisions = page.findall(prefix + "revision")
        if not revisions:
            return None
        text = revisions[-1].findtext(prefix + "text") or ""
        if self.pattern.search(text) is None or text.lstrip()[:9].upper() == "#REDIRECT":
            return None
        return title, revisions[-1].findtext(prefix + "timestamp") or "", text


# ---------------------------------------------------------------------------------------------- parsing

def _plain(code) -> str:
    return " ".join(code.strip_code().split())


def _link_target(title: str, namespaces: dict[str, str]) -> str | None:
    """A wikilink's target as MediaWiki normalises it, or None for a link to a section of the same page."""
    title = _SPACES.sub(" ", title.split("#", 1)[0]).strip().lstrip(":").strip()
    if not title:
        return None
    prefix, colon, rest = title.partition(":")
    if colon:
        canonical = namespaces.get(prefix.strip().casefold())
        if canonical is not None:
            rest = rest.strip()
            return f"{canonical}:{rest[:1].upper()}{rest[1:]}"
        if _INTERWIKI.fullmatch(prefix):
            return title
    return title[:1].upper() + title[1:]


def _record(title: str, timestamp: str, text: str, names: frozenset[str], namespaces: dict[str, str]) -> str | None:
    """The JSON line of one page, or None when mwparserfromhell finds none of ``names`` among its templates."""
    from mwparserfromhell import parse
    from mwparserfromhell.nodes import ExternalLink, Template, Wikilink

    code = parse(text)
    infobox = None
    links: list[str] = []
    external: list[str] = []
    for node in code.ifilter(forcetype=(Template, Wikilink, ExternalLink)):  # one walk, in page order
        if isinstance(node, Wikilink):
            target = _link_target(node.title.strip_code(), namespaces)
            if target is not None:
                links.append(target)
        elif isinstance(node, ExternalLink):
            url = node.url.strip_code().strip()
            if url:
                external.append(url)
        elif infobox is None and _template_name(node) in names:
            infobox = node
    if infobox is None:
        return None
    fields = {}
    for param in infobox.params:
        value = _plain(param.value) or " ".join(param.value.strip_code(keep_template_params=True).split())
        if value:
            fields[_plain(param.name)] = value
    length = len(code.strip_code().strip())
    return json.dumps([title, fields, links, external, timestamp, length], ensure_ascii=False)


def _template_name(template) -> str:
    """A template's normalised name, reading through comments only when the name has markup."""
    name = str(template.name)
    return _normalise_name(_plain(template.name) if "<" in name or "{" in name else name)


def _parse_batch(pages: list[tuple[str, str, str]], names: frozenset[str], namespaces: dict[str, str]) -> list[str]:
    """Worker job: the JSON lines of the candidate pages of one batch, in order."""
    lines = (_record(title, timestamp, text, names, namespaces) for title, timestamp, text in pages)
    return [line for line in lines if line is not None]


# ---------------------------------------------------------------------------------------------- running

_counters = None  # (pages, matches) shared with the workers of a multi-part run, for the progress bar


def _share_counters(counters) -> None:
    global _counters
    _counters = counters


class _SharedCounts:
    """Progress of one worker of a multi-part run, added to the counters the main process shows."""

    def __init__(self) -> None:
        self.pages = self.matches = 0

    def show(self, pages: int, matches: int) -> None:
        for counter, delta in zip(_counters, (pages - self.pages, matches - self.matches)):
            with counter.get_lock():
                counter.value += delta
        self.pages, self.matches = pages, matches


def _extract_file(path: Path, names: frozenset[str], part: Path) -> tuple[int, int, str | None]:
    """Worker job of a multi-part run: one dump file to one part file; returns pages, matches, error message."""
    with open(part, "w", encoding="utf-8") as out:
        return _run_single(path, names, out, 1, _SharedCounts())


class _Progress:
    """A tqdm bar of pages read with the matches found, or nothing when quiet."""

    def __init__(self, quiet: bool):
        self.bar = None
        if not quiet:
            from tqdm.auto import tqdm

            self.bar = tqdm(unit=" pages", unit_scale=True, desc="pages read", smoothing=0.1)

    def show(self, pages: int, matches: int) -> None:
        if self.bar is not None:
            self.bar.update(pages - self.bar.n)
            self.bar.set_postfix(matches=f"{matches:,}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_single(path: Path, names: frozenset[str], out, processes: int,
                progress: _Progress | _SharedCounts) -> tuple[int, int, str | None]:
    """One dump read once here, its candidate pages parsed here or by a pool (at most 2 batches a worker in
    flight, so memory stays bounded); returns pages read, lines written and the error message if the dump broke."""
    reader = _DumpReader(path, _candidate_pattern(names))
    matches = pages = 0
    error = None

    def write(lines: list[str]) -> None:
        nonlocal matches
        out.writelines(line + "\n" for line in lines)
        matches += len(lines)

    if processes == 1:
        try:
            for read, batch in reader:
                write(_parse_batch(batch, names, reader.namespaces))
                pages += read
                progress.show(pages, matches)
        except InputError as exc:
            error = str(exc)
        return reader.pages, matches, error

    import multiprocessing

    with multiprocessing.get_context().Pool(processes) as pool:
        pending: deque = deque()
        try:
            for read, batch in reader:
                pending.append((read, pool.apply_async(_parse_batch, (batch, names, dict(reader.namespaces)))))
                while len(pending) > 2 * processes or (pending and pending[0][1].ready()):
                    done, result = pending.popleft()
                    write(result.get())
                    pages += done
                    progress.show(pages, matches)
        except InputError as exc:
            error = str(exc)
        for done, result in pending:  # pages read before any error are kept
            write(result.get())
            pages += done
            progress.show(pages, matches)
    return reader.pages, matches, error


def _run_parts(paths: list[Path], names: frozenset[str], out, folder: Path, processes: int,
               progress: _Progress) -> tuple[int, int, list[str]]:
    """Multi-part dumps: each file read and parsed whole by one worker into a part file, joined in order."""
    import multiprocessing

    context = multiprocessing.get_context()
    counters = (context.Value("q", 0), context.Value("q", 0))
    parts = [temporary_name(folder / f"part{i}-{p.name}", ".part") for i, p in enumerate(paths)]
    try:
        with context.Pool(min(processes, len(paths)), initializer=_share_counters, initargs=(counters,)) as pool:
            results = [pool.apply_async(_extract_file, (path, names, part)) for path, part in zip(paths, parts)]
            while not all(r.ready() for r in results):
                next(r for r in results if not r.ready()).wait(0.2)
                progress.show(counters[0].value, counters[1].value)
            outcomes = [r.get() for r in results]
        for part in parts:
            with open(part, encoding="utf-8") as handle:
                for line in handle:
                    out.write(line)
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    progress.show(sum(o[0] for o in outcomes), sum(o[1] for o in outcomes))
    return sum(o[0] for o in outcomes), sum(o[1] for o in outcomes), [o[2] for o in outcomes if o[2]]


def extract_infobox_pages(paths: str | os.PathLike | Iterable[str | os.PathLike], template: str,
                          output: str | os.PathLike, *, aliases: Iterable[str] = (), processes: int | None = None,
                          quiet: bool = False) -> ExtractStats:
    """Write every main-namespace article of the dump(s) that uses ``template`` to ``output`` as NDJSON.

    ``paths`` is one dump file or the parts of a multi-part dump (bz2 or plain XML); parts are read in parallel,
    a single file is read once and its pages parsed by ``processes`` workers (default: every core). The lines
    follow the dump's page order. A damaged or truncated dump raises InputError naming the file and where it
    broke, after the pages read before it have been written to ``output``; a template that no page uses raises
    InputError and writes nothing.
    """
    paths = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not paths:
        raise InputError("no dump file given; expected one or more MediaWiki XML dumps (.xml or .xml.bz2).")
    for path in paths:
        if not path.is_file():
            raise InputError(f"{path}: no such file.")
    output = Path(output)
    if not output.parent.is_dir():
        raise InputError(f"{output}: the folder {output.parent} does not exist.")
    names = template_names(template, aliases)
    try:
        import mwparserfromhell  # noqa: F401  (checked here, used by the workers)
    except ImportError:
        raise MissingExtraError("reading wiki dumps", "wiki", "mwparserfromhell") from None
    processes = check_positive_int("processes", os.cpu_count() or 1 if processes is None else processes)
    paths = _dump_order(paths)
    start = time.perf_counter()
    progress = _Progress(quiet)
    try:
        with atomic_file(output) as temporary:
            with open(temporary, "w", encoding="utf-8") as out:
                if len(paths) > 1 and processes > 1:
                    pages, matches, errors = _run_parts(paths, names, out, output.parent, processes, progress)
                else:
                    pages = matches = 0
                    errors = []
                    for path in paths:
                        read, found, error = _run_single(path, names, out, processes, progress)
                        pages, matches = pages + read, matches + found
                        errors += [error] if error else []
            if errors and not matches:  # nothing worth keeping: leave the output as it was
                kept = " No matching page was read before it, so nothing was written." if pages else ""
                raise InputError(" ".join(errors) + kept)
            if not matches:
                shown = ", ".join(sorted(names))
                raise InputError(f"{', '.join(map(str, paths))}: no main-namespace page of the {pages:,} read uses "
                                 f"the template {template!r} (names tried: {shown}); check the template's name, or "
                                 "add its redirects as aliases (--alias).")
    finally:
        progress.close()
    if errors:  # the pages read before the damage were written; say so
        raise InputError(" ".join(errors) + f" The {matches:,} matching pages read before it were written to {output}.")
    return ExtractStats(len(paths), pages, matches, time.perf_counter() - start, output)
