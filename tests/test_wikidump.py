"""MediaWiki XML dump -> books NDJSON: a small hand-written dump, bz2-compressed in the test."""

from __future__ import annotations

import bz2
import json
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from typer.testing import CliRunner

pytest.importorskip("mwparserfromhell")

from entembed.cli import app  # noqa: E402
from entembed.data.books import read_books  # noqa: E402
from entembed.data.wikidump import extract_infobox_pages, template_names  # noqa: E402
from entembed.errors import InputError  # noqa: E402

HOBBIT = """{{ infobox_Book | name = The ''Hobbit'' <!-- the title -->
| author = [[J. R. R. Tolkien]]
| release_date = {{Start date|1937|9|21}}
| genre = [[Fantasy|High fantasy]]
| pages = 310<ref>{{cite web |url=http://example.org/hobbit |title=Pages}}</ref>
| isbn =
}}
'''The Hobbit''' is set in [[middle-earth#Geography|Middle-earth]].
[[File:Hobbit cover.jpg|thumb|The cover, by [[J. R. R. Tolkien]]]]
See [[#Plot]], [[wikt:hobbit]] and [[User_talk:Someone]]. [http://tolkien.co.uk Official site]
[[category:1937 novels]] [[:Category:Fantasy]]"""

DUNE = """{{Infobox novel|name=Dune|author=[[Frank Herbert]]
 |country={{flag|United States}}  |followed_by=''[[Dune Messiah]]''}}
'''Dune''' is a [[science_fiction]] novel by [[Frank Herbert]].{{Citation needed|date=May 2018}}
[[Image:Dune cover.jpg]] [[Category:1965 novels]]"""

BROKEN = """{{Infobox book | name = Broken | author = [[Unclosed link
| pages = 12
}}
Text with {{unclosed template and [[Another link]] and <ref>an unclosed ref"""

# (title, namespace, redirect target, text) in dump order
PAGES = [
    ("The Hobbit", 0, None, HOBBIT),
    ("The hobbit (novel)", 0, "The Hobbit", "#REDIRECT [[The Hobbit]]\n{{Infobox book | name = redirect}}"),
    ("Talk:The Hobbit", 1, None, "{{Infobox book | name = talk copy}} [[Tolkien]]"),
    ("J. R. R. Tolkien", 0, None, "{{Infobox writer | name = Tolkien}} Wrote <nowiki>{{Infobox book}}</nowiki>."),
    ("Dune", 0, None, DUNE),
    ("Broken Book", 0, None, BROKEN),
]
EXPECTED = [
    ["The Hobbit",
     {"name": "The Hobbit", "author": "J. R. R. Tolkien", "release_date": "1937 9 21", "genre": "High fantasy",
      "pages": "310"},
     ["J. R. R. Tolkien", "Fantasy", "Middle-earth", "File:Hobbit cover.jpg", "J. R. R. Tolkien", "wikt:hobbit",
      "User talk:Someone", "Category:1937 novels", "Category:Fantasy"],
     ["http://example.org/hobbit", "http://tolkien.co.uk"],
     "2018-10-01T12:00:00Z", 170],
    ["Dune",
     {"name": "Dune", "author": "Frank Herbert", "country": "United States", "followed_by": "Dune Messiah"},
     ["Frank Herbert", "Dune Messiah", "Science fiction", "Frank Herbert", "File:Dune cover.jpg",
      "Category:1965 novels"],
     [],
     "2018-10-05T12:00:00Z", 91],
    ["Broken Book",
     {"name": "Broken", "author": "[[Unclosed link", "pages": "12"},
     ["Another link"],
     [],
     "2018-10-06T12:00:00Z", 71],
]


def dump_xml(pages=PAGES) -> str:
    """The pages in the MediaWiki export format (schema 0.10), timestamps one day apart."""
    parts = ['<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10" xml:lang="en">\n'
             '  <siteinfo>\n    <sitename>Wikipedia</sitename>\n    <namespaces>\n'
             '      <namespace key="0" case="first-letter" />\n'
             '      <namespace key="14" case="first-letter">Category</namespace>\n'
             '    </namespaces>\n  </siteinfo>\n']
    for number, (title, ns, redirect, text) in enumerate(pages, 1):
        parts.append(
            f"  <page>\n    <title>{escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{number}</id>\n"
            + (f'    <redirect title="{escape(redirect)}" />\n' if redirect else "")
            + f"    <revision>\n      <id>{100 + number}</id>\n"
            f"      <timestamp>2018-10-{number:02d}T12:00:00Z</timestamp>\n"
            f'      <text bytes="{len(text.encode())}" xml:space="preserve">{escape(text)}</text>\n'
            "    </revision>\n  </page>\n")
    parts.append("</mediawiki>\n")
    return "".join(parts)


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    path = tmp_path / "enwiki-pages-articles.xml.bz2"
    path.write_bytes(bz2.compress(dump_xml().encode()))
    return path


def read_lines(path: Path) -> list[list]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def check_records(rows: list[list], expected: list[list]) -> None:
    assert [row[0] for row in rows] == [e[0] for e in expected]
    for row, want in zip(rows, expected):
        assert len(row) == 6, row[0]
        for field, got, wanted in zip(("title", "infobox", "wikilinks", "external links", "timestamp", "length"),
                                      row, want):
            assert got == wanted, f"{row[0]}: {field}"


def test_extracts_the_books_field_by_field(dump: Path, tmp_path: Path) -> None:
    out = tmp_path / "books.ndjson"
    stats = extract_infobox_pages(dump, "Infobox book", out, processes=1, quiet=True)
    assert (stats.files, stats.pages, stats.matches) == (1, len(PAGES), 3)
    rows = read_lines(out)
    check_records(rows, EXPECTED)
    dune_text = "Dune is a science_fiction novel by Frank Herbert.\nImage:Dune cover.jpg Category:1965 novels"
    assert rows[1][5] == len(dune_text)  # the plain text's length, as the reference measured it
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_plain_xml_and_a_pool_give_the_same_lines(dump: Path, tmp_path: Path) -> None:
    plain = tmp_path / "dump.xml"
    plain.write_text(dump_xml(), encoding="utf-8")
    one, two = tmp_path / "one.ndjson", tmp_path / "two.ndjson"
    extract_infobox_pages([plain], "infobox book", one, processes=1, quiet=True)
    extract_infobox_pages(dump, "Infobox book", two, processes=2, quiet=True)
    assert one.read_text() == two.read_text()
    check_records(read_lines(one), EXPECTED)


def test_multi_part_dump_is_read_in_page_order(tmp_path: Path) -> None:
    first, second = tmp_path / "x-pages-articles1.xml-p1p4.bz2", tmp_path / "x-pages-articles2.xml-p5p9.bz2"
    first.write_bytes(bz2.compress(dump_xml(PAGES[:4]).encode()))
    second.write_bytes(bz2.compress(dump_xml(PAGES[4:]).encode()))
    out = tmp_path / "books.ndjson"
    stats = extract_infobox_pages([second, first], "Infobox book", out, processes=2, quiet=True)
    assert (stats.files, stats.pages, stats.matches) == (2, len(PAGES), 3)
    rows = read_lines(out)
    assert [row[0] for row in rows] == ["The Hobbit", "Dune", "Broken Book"]
    assert rows[1][1] == EXPECTED[1][1]


def test_template_names_and_extra_aliases(dump: Path, tmp_path: Path) -> None:
    assert template_names(" Template:Infobox_Book ") >= {"infobox book", "infobox novel", "book infobox"}
    assert template_names("Infobox book", ["Book_box"]) == template_names("infobox book") | {"book box"}
    out = tmp_path / "writers.ndjson"
    stats = extract_infobox_pages(dump, "Infobox person", out, aliases=["infobox writer"], processes=1, quiet=True)
    assert stats.matches == 1
    assert read_lines(out)[0][:2] == ["J. R. R. Tolkien", {"name": "Tolkien"}]


def test_output_feeds_the_books_loader_and_train_books(dump: Path, tmp_path: Path) -> None:
    out = tmp_path / "books.ndjson"
    extract_infobox_pages(dump, "Infobox book", out, processes=1, quiet=True)
    books = read_books(out, min_count=1)
    assert books.info["author"].tolist() == ["j. r. r. tolkien", "frank herbert", "unclosed link"]
    model_dir = tmp_path / "model"
    done = subprocess.run([sys.executable, "-m", "entembed", "train", "books", str(out), "--min-count", "1",
                           "--epochs", "2", "--quiet", "-o", str(model_dir)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (model_dir / "config.json").is_file()


def test_truncated_dump_keeps_the_pages_read(tmp_path: Path) -> None:
    xml = dump_xml()
    cut = xml.index("<title>Broken Book</title>") + 10
    path = tmp_path / "cut.xml"
    path.write_text(xml[:cut], encoding="utf-8")
    out = tmp_path / "books.ndjson"
    with pytest.raises(InputError, match=rf"^{path}: the XML is truncated: it ends at byte {cut:,} in the middle "
                                         r"of a page, after page 5 \('Dune'\)\. The 2 matching pages read before "
                                         rf"it were written to {out}\.$"):
        extract_infobox_pages(path, "Infobox book", out, processes=1, quiet=True)
    check_records(read_lines(out), EXPECTED[:2])


def test_truncated_bz2_names_the_file_and_byte(tmp_path: Path) -> None:
    packed = bz2.compress(dump_xml().encode())
    path = tmp_path / "cut.xml.bz2"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(InputError, match=rf"^{path}: the bz2 data ends at byte {len(packed) // 2:,} in the middle "
                                         r"of a compressed stream \(a truncated download\?\), before the first "
                                         r"complete page\.$"):
        extract_infobox_pages(path, "Infobox book", tmp_path / "books.ndjson", processes=2, quiet=True)
    assert not (tmp_path / "books.ndjson").exists()


def test_not_xml_and_wrong_root_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("these are notes, not a dump\n")
    with pytest.raises(InputError, match=rf"^{text}: not an XML file \(syntax error at line 1, column 0\); "
                                         r"expected a MediaWiki XML export, plain or bz2-compressed\.$"):
        extract_infobox_pages(text, "Infobox book", tmp_path / "out.ndjson", quiet=True)
    html = tmp_path / "page.xml"
    html.write_text("<html><body>hi</body></html>")
    with pytest.raises(InputError, match=r"the XML's root element is <html>; expected a MediaWiki XML export"):
        extract_infobox_pages(html, "Infobox book", tmp_path / "out.ndjson", quiet=True)
    assert not list(tmp_path.glob("*.ndjson")) and not list(tmp_path.glob(".*"))


def test_template_that_matches_nothing(dump: Path, tmp_path: Path) -> None:
    out = tmp_path / "films.ndjson"
    with pytest.raises(InputError, match=rf"^{dump}: no main-namespace page of the 6 read uses the template "
                                         r"'Infobox film' \(names tried: .*infobox movie.*\); check the template's "
                                         r"name, or add its redirects as aliases \(--alias\)\.$"):
        extract_infobox_pages(dump, "Infobox film", out, processes=1, quiet=True)
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_bad_arguments(dump: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.xml: no such file\."):
        extract_infobox_pages(tmp_path / "missing.xml", "Infobox book", tmp_path / "out.ndjson")
    with pytest.raises(InputError, match=r"template must name an infobox template, such as 'Infobox book'\. Got ' ' "):
        extract_infobox_pages(dump, " ", tmp_path / "out.ndjson")
    with pytest.raises(InputError, match=r"processes must be an int >= 1\. Got 0 instead\."):
        extract_infobox_pages(dump, "Infobox book", tmp_path / "out.ndjson", processes=0)


def test_cli_extract_and_its_errors(dump: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "books.ndjson"
    done = runner.invoke(app, ["wiki", "extract", str(dump), "-o", str(out), "--template", "Infobox book", "-j", "1",
                               "--quiet"])
    assert done.exit_code == 0, done.output
    assert "wrote 3 pages using 'Infobox book' of 6 read" in done.output
    assert len(read_lines(out)) == 3
    text = tmp_path / "notes.txt"
    text.write_text("not a dump")
    cut = tmp_path / "cut.xml"
    cut.write_text(dump_xml()[:-200])
    for args, message in [([str(text)], f"error: {text}: not an XML file"),
                          ([str(cut)], f"error: {cut}: the XML is truncated"),
                          ([str(dump), "--template", "Infobox film"], "no main-namespace page of the 6 read")]:
        done = runner.invoke(app, ["wiki", "extract", *args, "-o", str(tmp_path / "x.ndjson"), "-j", "1", "-q"])
        assert done.exit_code == 2
        assert message in done.output
