"""Pages per second of `entembed wiki extract` on a generated dump of about 100 MB, one process and all cores.

The dump is written in the MediaWiki export format from generated text: book pages with an infobox (odd
spacing, nested templates), many links, refs with citation templates and categories, mixed with a majority of
pages that do not match (other infoboxes, plain articles, redirects, talk and user pages).

    .venv/bin/python benchmarks/bench_wikidump.py [--mb 100] [--plain] [--repeat 1]
"""

from __future__ import annotations

import argparse
import bz2
import os
import random
import resource
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

from entembed.data.wikidump import extract_infobox_pages

WORDS = ("the of and a in to is was for on as by with he that at from his it an were are which this be "
         "or has had first one their its new after who they two her she been other when there all during into "
         "school would time may years more most only over city some world such where later up can made between "
         "national state team under while people known about many river century war series book novel author "
         "published story character history").split()
NAMES = [f"{a} {b}" for a in ("John", "Mary", "Ana", "Li", "Omar", "Ruth", "Ivan", "Sara", "Paul", "Nadia")
         for b in ("Smith", "Garcia", "Chen", "Haddad", "Novak", "Okafor", "Berg", "Rossi", "Kaur", "Silva")]
TOPICS = [f"{w.capitalize()} {v}" for w in WORDS[40:100] for v in ("studies", "history", "theory", "fiction")]
HEADER = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en">
  <siteinfo>
    <sitename>Wikipedia</sitename>
    <namespaces>
      <namespace key="0" case="first-letter" />
      <namespace key="1" case="first-letter">Talk</namespace>
    </namespaces>
  </siteinfo>
"""


def _sentence(rng: random.Random) -> str:
    words = []
    for _ in range(rng.randint(8, 25)):
        r = rng.random()
        if r < 0.12:
            target = rng.choice(TOPICS + NAMES)
            words.append(f"[[{target}|{target.lower()}]]" if rng.random() < 0.3 else f"[[{target}]]")
        elif r < 0.14:
            words.append(f"''{rng.choice(WORDS)}''")
        else:
            words.append(rng.choice(WORDS))
    text = " ".join(words).capitalize() + "."
    if rng.random() < 0.3:
        n = rng.randint(1, 99999)
        text += (f"<ref>{{{{cite web |url=http://example.org/{n} |title={rng.choice(TOPICS)} "
                 f"|date={{{{date|{1990 + n % 30}}}}} |access-date=2018-01-01}}}}</ref>")
    return text


def _body(rng: random.Random, paragraphs: int) -> str:
    parts = []
    for i in range(paragraphs):
        if i and rng.random() < 0.3:
            parts.append(f"== {rng.choice(TOPICS)} ==")
        parts.append(" ".join(_sentence(rng) for _ in range(rng.randint(3, 7))))
    parts.append("== References ==\n{{reflist}}\n== External links ==\n"
                 f"* [http://www.example.com/{rng.randint(1, 10**6)} Official site]")
    parts += [f"[[Category:{rng.choice(TOPICS)}]]" for _ in range(rng.randint(2, 6))]
    return "\n\n".join(parts)


def _book(rng: random.Random, n: int) -> str:
    name = rng.choice(("Infobox book", "infobox Book", " Infobox_book ", "Infobox novel"))
    author = rng.choice(NAMES)
    return (f"{{{{{name}\n| name = Book {n}\n| image = Book {n}.jpg\n| author = [[{author}]]\n"
            f"| country = {{{{flag|{rng.choice(('United States', 'France', 'Japan'))}}}}}\n| language = English\n"
            f"| genre = {{{{ubl|[[{rng.choice(TOPICS)}]]|[[{rng.choice(TOPICS)}]]}}}}\n"
            f"| publisher = [[{rng.choice(NAMES)} Press]]\n| release_date = {{{{Start date|{1900 + n % 120}|5|1}}}}\n"
            f"| pages = {rng.randint(90, 900)} <!-- hardcover -->\n| isbn = 0-{n:09d}\n}}}}\n"
            f"'''Book {n}''' is a [[novel]] by [[{author}]].\n\n{_body(rng, rng.randint(3, 8))}")


def _other(rng: random.Random, n: int) -> str:
    r = rng.random()
    if r < 0.3:
        return (f"{{{{Infobox film\n| name = Film {n}\n| director = [[{rng.choice(NAMES)}]]\n}}}}\n"
                f"{_body(rng, rng.randint(2, 6))}")
    return _body(rng, rng.randint(1, 8))


def write_dump(path: Path, megabytes: float, *, seed: int = 0) -> int:
    """Write a plain XML dump of about ``megabytes`` MB to ``path``; return its number of pages."""
    rng = random.Random(seed)
    target = megabytes * 1e6
    written = 0
    n = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write(HEADER)
        while written < target:
            n += 1
            r = rng.random()
            ns, redirect, text = 0, "", ""
            if r < 0.08:
                title, text = f"Book {n}", _book(rng, n)
            elif r < 0.2:
                title, redirect = f"Redirect {n}", f'    <redirect title="Book {n - 1}" />\n'
                text = f"#REDIRECT [[Book {n - 1}]]"
            elif r < 0.3:
                ns, title, text = 1, f"Talk:Page {n}", _body(rng, 2)
            else:
                title, text = f"Page {n}", _other(rng, n)
            page = (f"  <page>\n    <title>{escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{n}</id>\n{redirect}"
                    f"    <revision>\n      <id>{n + 10**6}</id>\n      <timestamp>2018-10-01T12:00:00Z</timestamp>\n"
                    f"      <text bytes=\"{len(text.encode())}\" xml:space=\"preserve\">{escape(text)}</text>\n"
                    "    </revision>\n  </page>\n")
            out.write(page)
            written += len(page)
        out.write("</mediawiki>\n")
    return n


def _cpu_seconds() -> tuple[float, float]:
    """CPU time of this process and of its finished children (the pool's workers): figures the load cannot inflate."""
    return tuple(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                    resource.getrusage(resource.RUSAGE_CHILDREN)))


def _run(paths: list[Path], output: Path, processes: int, repeat: int) -> tuple[float, float, float, object]:
    """The fastest of ``repeat`` runs: wall seconds, CPU seconds of the reading process and of the workers."""
    best = None
    for _ in range(repeat):
        start, (main0, workers0) = time.perf_counter(), _cpu_seconds()
        stats = extract_infobox_pages(paths, "Infobox book", output, processes=processes, quiet=True)
        seconds, (main1, workers1) = time.perf_counter() - start, _cpu_seconds()
        if best is None or seconds < best[0]:
            best = (seconds, main1 - main0, workers1 - workers0, stats)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="Size of the generated plain XML dump.")
    parser.add_argument("--plain", action="store_true", help="Also measure the uncompressed dump.")
    parser.add_argument("--repeat", type=int, default=1, help="Runs per setting; the fastest is kept.")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "dump.xml"
        pages = write_dump(xml, args.mb)
        packed = Path(tmp) / "dump.xml.bz2"
        packed.write_bytes(bz2.compress(xml.read_bytes(), 9))
        print(f"dump: {pages:,} pages, {xml.stat().st_size / 1e6:.1f} MB XML, "
              f"{packed.stat().st_size / 1e6:.1f} MB bz2; {cores} cores", flush=True)
        kinds = [("bz2", packed)] + ([("plain", xml)] if args.plain else [])
        for kind, path in kinds:
            rates, floors = {}, {}
            for processes in sorted({1, cores}):
                load = os.getloadavg()[0]  # the machine may be shared: a high load slows every figure
                seconds, main_cpu, worker_cpu, stats = _run([path], Path(tmp) / "out.ndjson", processes, args.repeat)
                rates[processes] = stats.pages / seconds
                # On an idle machine the run takes at least the reader's CPU time and the total CPU time / cores.
                floor = floors[processes] = max(main_cpu, (main_cpu + worker_cpu) / processes)
                print(f"{kind:5s} processes={processes}: {seconds:6.1f} s, {rates[processes]:7,.0f} pages/s; CPU s: "
                      f"reader {main_cpu:.1f}, workers {worker_cpu:.1f}; idle-machine floor {floor:.1f} s "
                      f"({stats.pages / floor:,.0f} pages/s); {stats.matches:,} matches; load average before "
                      f"{load:.1f}", flush=True)
            if cores > 1:
                print(f"{kind:5s} speed-up with {cores} processes: {rates[cores] / rates[1]:.2f}x measured, "
                      f"{floors[1] / floors[cores]:.2f}x between the idle-machine floors")


if __name__ == "__main__":
    main()
