"""benchmarks/blocks.py and run_all.py: the suite rewrites each benchmark's block of BENCHMARKS.md and nothing
around it; a benchmark that fails keeps its old block and is reported."""

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # benchmarks/ is a folder of scripts, not a package
try:
    blocks = importlib.import_module("blocks")
    run_all = importlib.import_module("run_all")
finally:
    sys.path.remove(str(ROOT / "benchmarks"))

DOC = """# Benchmarks

## Books (hand-written)

Analysis before the table.

<!-- bench:books:start -->
`old command`: measured last year.

| seed | share |
|---|---|
| 0 | 0.81 |
<!-- bench:books:end -->

Analysis after the table: 0.81 is 15x chance.

## Tokens

<!-- bench:tokens:start -->
| case | rho |
|---|---|
| 5 tokens | 0.95 |
<!-- bench:tokens:end -->
"""


def test_replace_block_rewrites_only_that_block():
    new = blocks.replace_block(DOC, "books", "`new command`: today.\n\n| seed | share |\n|---|---|\n| 0 | 0.90 |\n")
    assert new == DOC.replace("`old command`: measured last year.", "`new command`: today.").replace(
        "| 0 | 0.81 |", "| 0 | 0.90 |")
    assert "Analysis after the table: 0.81 is 15x chance." in new  # the hand-written text keeps its old figure
    assert blocks.replace_block(new, "tokens", "| a |").endswith(
        "<!-- bench:tokens:start -->\n| a |\n<!-- bench:tokens:end -->\n")


def test_replace_block_twice_gives_the_same_text():
    body = "| x |\n|---|\n| 1 |"
    once = blocks.replace_block(DOC, "tokens", body)
    assert blocks.replace_block(once, "tokens", body) == once
    assert blocks.replace_block(DOC, "books", DOC.split("<!-- bench:books:start -->\n")[1]
                                .split("<!-- bench:books:end -->")[0]) == DOC


def test_block_names_in_order():
    assert blocks.block_names(DOC) == ["books", "tokens"]


def test_missing_block_is_a_clear_error():
    with pytest.raises(blocks.MarkerError, match=r"^BENCHMARKS.md: no block 'imdb': expected a "
                                                 r"`<!-- bench:imdb:start -->` line and a `<!-- bench:imdb:end -->`"):
        blocks.replace_block(DOC, "imdb", "| a |")


def test_unclosed_block_names_its_line():
    text = DOC.replace("<!-- bench:books:end -->\n", "")
    with pytest.raises(blocks.MarkerError, match=r"^BENCHMARKS.md, line 18: `<!-- bench:tokens:start -->` opens a "
                                                 r"block inside block 'books' \(opened on line 7\)"):
        blocks.replace_block(text, "tokens", "| a |")
    with pytest.raises(blocks.MarkerError, match=r"line 19: block 'tokens' is never closed"):
        blocks.block_names(DOC.replace("<!-- bench:tokens:end -->", ""))


def test_end_before_start_and_twice_are_errors():
    swapped = DOC.replace("<!-- bench:tokens:start -->", "@@").replace(
        "<!-- bench:tokens:end -->", "<!-- bench:tokens:start -->").replace("@@", "<!-- bench:tokens:end -->")
    with pytest.raises(blocks.MarkerError, match=r"line 19: `<!-- bench:tokens:end -->` closes no open block; "
                                                 r"expected `<!-- bench:tokens:start -->` before it"):
        blocks.replace_block(swapped, "tokens", "| a |")
    with pytest.raises(blocks.MarkerError, match="block 'books' appears twice"):
        blocks.block_names(DOC + "<!-- bench:books:start -->\n<!-- bench:books:end -->\n")


OUTPUT = """progress line
    per seed: [0.1, 0.2]
- read 1,411 books
- mean share 0.81

| seed | share |
|---|---|
| 0 | 0.81 |
    per seed: [0.95]
| 1 | 0.80 |

- ratio: **15.6x**
- memory 900 MB

closing remark
| a | b |
|---|---|
| 1 | 2 |
done

Data: one line on its own.

| c |
|---|
| 3 |
epoch 1: 0.5
epoch 2: 0.7

| d |
|---|
| 4 |
"""


def test_report_keeps_tables_with_their_caption_and_bullets():
    # progress lines a blank line above a table are left out; a list of figures or a line on its own is kept
    assert blocks.report(OUTPUT) == """- read 1,411 books
- mean share 0.81

| seed | share |
|---|---|
| 0 | 0.81 |
| 1 | 0.80 |

- ratio: **15.6x**
- memory 900 MB

closing remark

| a | b |
|---|---|
| 1 | 2 |

Data: one line on its own.

| c |
|---|
| 3 |

| d |
|---|
| 4 |"""


def test_report_of_an_output_without_table_is_empty():
    assert blocks.report("epoch 1\nepoch 2\n- a bullet\n") == ""


def test_run_all_rewrites_what_ran_and_keeps_the_block_of_a_failed_benchmark(tmp_path, monkeypatch, capsys):
    (tmp_path / "good.py").write_text("print('progress')\nprint()\nprint('| a | b |')\nprint('|---|---|')\n"
                                      "print('| 1 | 2 |')\n")
    (tmp_path / "bad.py").write_text("import sys\nprint('| half | a table |')\nsys.exit(3)\n")
    doc = ("# B\n\n<!-- bench:good:start -->\nold good\n<!-- bench:good:end -->\n\nHand-written.\n\n"
           "<!-- bench:bad:start -->\nold bad\n<!-- bench:bad:end -->\n")
    (tmp_path / "BENCHMARKS.md").write_text(doc)
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    monkeypatch.setattr(run_all, "OUT", tmp_path / "out")
    monkeypatch.setattr(run_all, "SUITE", [run_all.Benchmark("good", run_all.OURS, ("good.py",), ("good.py", "-q")),
                                           run_all.Benchmark("bad", run_all.OURS, ("bad.py",), ("bad.py",))])
    monkeypatch.setattr(sys, "argv", ["run_all.py"])
    assert run_all.main() == 1
    text = (tmp_path / "BENCHMARKS.md").read_text()
    good = text.split("<!-- bench:good:start -->\n")[1].split("<!-- bench:good:end -->")[0]
    assert good.startswith("`.venv/bin/python good.py`: run by `make bench` (")
    assert "load average" in good and good.endswith("\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert text.split("<!-- bench:good:end -->")[1] == doc.split("<!-- bench:good:end -->")[1]  # bad kept
    assert "FAILED: bad failed (exit code 3," in capsys.readouterr().out
    assert (tmp_path / "out" / "bad.log").read_text() == "| half | a table |\n"


def run_one_editing_benchmark(tmp_path, monkeypatch, doc: str, edit: str) -> int:
    """run_all.main() over BENCHMARKS.md = ``doc`` and one benchmark "edit" that runs the Python ``edit`` on
    that file, as a colleague editing it during an hour-long run would, then prints a table."""
    (tmp_path / "BENCHMARKS.md").write_text(doc)
    (tmp_path / "edit.py").write_text(f"from pathlib import Path\np = Path('BENCHMARKS.md')\n{edit}\n"
                                      "print('| a |')\nprint('|---|')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    monkeypatch.setattr(run_all, "OUT", tmp_path / "out")
    monkeypatch.setattr(run_all, "SUITE", [run_all.Benchmark("edit", run_all.OURS, ("edit.py",), ("edit.py",))])
    monkeypatch.setattr(sys, "argv", ["run_all.py"])
    return run_all.main()


def test_run_all_keeps_edits_made_to_the_file_while_it_runs(tmp_path, monkeypatch):
    """Defect: the file was read once at the start, so hand edits made during an hour-long run were lost."""
    doc = "# B\n\nOld words.\n\n<!-- bench:edit:start -->\nold\n<!-- bench:edit:end -->\n"
    edit = "p.write_text(p.read_text().replace('Old words.', 'New words.'))"
    assert run_one_editing_benchmark(tmp_path, monkeypatch, doc, edit) == 0
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "New words." in text and "Old words." not in text and "| a |\n|---|\n" in text


def test_run_all_reports_a_block_whose_markers_were_edited_away_during_the_run(tmp_path, monkeypatch, capsys):
    doc = "# B\n\n<!-- bench:edit:start -->\nold\n<!-- bench:edit:end -->\n"
    edit = "p.write_text('# B\\n\\nRewritten by hand.\\n')"
    assert run_one_editing_benchmark(tmp_path, monkeypatch, doc, edit) == 1
    assert (tmp_path / "BENCHMARKS.md").read_text() == "# B\n\nRewritten by hand.\n"   # the edit is kept
    assert "FAILED: measured but not written: BENCHMARKS.md: no block 'edit'" in capsys.readouterr().out


def test_run_all_refuses_before_running_when_a_block_is_missing(tmp_path, monkeypatch, capsys):
    (tmp_path / "BENCHMARKS.md").write_text("# B\n\n<!-- bench:good:start -->\n<!-- bench:good:end -->\n")
    monkeypatch.setattr(run_all, "ROOT", tmp_path)
    monkeypatch.setattr(run_all, "SUITE", [run_all.Benchmark("good", run_all.OURS, ("good.py",), ("good.py",)),
                                           run_all.Benchmark("tokens", run_all.OURS, ("t.py",), ("t.py",))])
    monkeypatch.setattr(sys, "argv", ["run_all.py"])
    with pytest.raises(SystemExit) as exit_:
        run_all.main()
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "error: BENCHMARKS.md has no block for tokens: expected `<!-- bench:NAME:start -->`" in error
