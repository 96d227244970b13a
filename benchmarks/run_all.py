"""Run every benchmark one after the other and rewrite their tables in BENCHMARKS.md (issue 11).

Each benchmark runs in its own process (the peers in benchmarks/.peers-venv) and owns one block of BENCHMARKS.md,
between its `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` lines, in the section where its figures are
discussed (benchmarks/blocks.py). When a benchmark ends, its block is rewritten with the command, machine, load and
date of the run and the tables its script printed; the hand-written analysis around the blocks stays as it is.
A benchmark that fails or prints no table leaves its old block in place and is reported at the end (exit code 1);
every output is kept in benchmarks/out/NAME.log. Each table comes from one run of one script, methods side by
side, so the ratios within it hold on a noisy machine.

    make bench          # everything, about 60 minutes on the 2-core machine: rewrites BENCHMARKS.md
    make bench-quick    # a reduced run of each, under 5 minutes: writes benchmarks/out/BENCHMARKS-quick.md
    .venv/bin/python benchmarks/run_all.py --only books,tokens    # some blocks only
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from blocks import MarkerError, block_names, replace_block, report

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
OURS, PEERS = ".venv/bin/python", "benchmarks/.peers-venv/bin/python"  # OURS: the interpreter running this script


@dataclass(frozen=True)
class Benchmark:
    name: str                # its block in BENCHMARKS.md
    python: str              # OURS or PEERS
    full: tuple[str, ...]    # the script and its arguments, from the repository root
    quick: tuple[str, ...]   # the reduced run of `make bench-quick`


SUITE = [
    # speed and genre@10 on the reference-size planted graph, beside the Keras replica and implicit's BPR
    Benchmark("pairs", PEERS, ("benchmarks/bench_pairs.py",),
              ("benchmarks/bench_pairs.py", "--entembed-epochs", "2", "--replica-epochs", "1", "--replica-steps",
               "30", "--bpr-iterations", "10", "--bpr-eval-every", "5")),
    Benchmark("books", OURS, ("benchmarks/bench_books_p15.py",), ("benchmarks/bench_books_p15.py", "--seeds", "0")),
    Benchmark("tokens", OURS, ("benchmarks/bench_tokens.py", "--seeds", "20"),
              ("benchmarks/bench_tokens.py", "--seeds", "1")),
    Benchmark("movielens-rmse", OURS,
              ("benchmarks/bench_movielens.py", "--splits", "1,2,3,4,5", "--no-boosting", "--refit", "--ensemble", "3"),
              ("benchmarks/bench_movielens.py", "--splits", "1", "--no-boosting", "--training", '{"epochs": 2}')),
    Benchmark("imdb", OURS, ("benchmarks/bench_text.py", "--part", "imdb"),
              ("benchmarks/bench_text.py", "--part", "imdb", "--max-epochs", "1", "--sample", "1000")),
    Benchmark("rt-polarity", OURS, ("benchmarks/bench_text.py", "--part", "rt", "--max-epochs", "8", "--nested", "3"),
              ("benchmarks/bench_text.py", "--part", "rt", "--max-epochs", "1", "--seeds", "1", "--folds", "2")),
    # MovieLens-100K leave-last-out by time (next item, and the pair model beside ALS, BPR, item-kNN)
    Benchmark("nextitem", OURS, ("benchmarks/bench_nextitem.py", "--json", "benchmarks/out/nextitem.json"),
              ("benchmarks/bench_nextitem.py", "--quick", "--max-epochs", "3", "--pair-epochs", "3")),
    Benchmark("evaluate", OURS, ("benchmarks/bench_evaluate.py",),
              ("benchmarks/bench_evaluate.py", "--users", "2000", "--items", "10000")),
]


def machine() -> str:
    """Cores, CPU, memory and versions, as the blocks state them."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
               platform.processor() or "unknown CPU")
    memory = Path("/proc/meminfo").read_text().split()[1] if Path("/proc/meminfo").exists() else None
    size = f", {int(memory) / 2**20:.0f} GB" if memory else ""
    return (f"{os.cpu_count()} cores ({cpu}){size}, Python {platform.python_version()}, torch {version('torch')}")


def run(bench: Benchmark, command: tuple[str, ...], target: str, env: dict) -> tuple[str | None, str]:
    """Run one benchmark; (the new text of its block, or None when it failed, and a line saying how it went)."""
    shown = shlex.join([bench.python, *command])
    print(f"== {bench.name}: {shown}", flush=True)
    interpreter = sys.executable if bench.python == OURS else str(ROOT / bench.python)
    load, started = os.getloadavg()[0], time.perf_counter()
    done = subprocess.run([interpreter, *command], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds, load_after = time.perf_counter() - started, os.getloadavg()[0]
    log = OUT / f"{bench.name}.log"
    log.write_text(done.stdout + done.stderr)
    tables = report(done.stdout)
    if done.returncode or not tables:
        why = f"exit code {done.returncode}" if done.returncode else "no table printed"
        return None, f"{bench.name} failed ({why}, {seconds:.0f} s; its old block is kept): see {log.relative_to(ROOT)}"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"`{shown}`: run by `make {target}` ({stamp}, {seconds:.0f} s) on {machine()}; load average "
              f"{load:.1f} at the start, {load_after:.1f} at the end.")
    return f"{header}\n\n{tables}", f"{bench.name} done in {seconds:.0f} s"


def write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def with_blocks(source: Path, bodies: dict[str, str]) -> tuple[str, list[str]]:
    """``source`` as it is now, read again (edits made to it during a run of an hour are kept), with the
    blocks named in ``bodies`` rewritten; and why any of them could not be (its markers edited away)."""
    text, errors = source.read_text(encoding="utf-8"), []
    for name, body in bodies.items():
        try:
            text = replace_block(text, name, body, source.name)
        except MarkerError as error:
            errors.append(f"{error} (its output: {(OUT / (name + '.log')).relative_to(ROOT)})")
    return text, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the reduced runs (written to --output)")
    parser.add_argument("--only", help="comma-separated block names: " + ", ".join(b.name for b in SUITE))
    parser.add_argument("--output", type=Path,
                        help="where the rewritten BENCHMARKS.md goes (default: BENCHMARKS.md itself; with --quick, "
                             "benchmarks/out/BENCHMARKS-quick.md)")
    args = parser.parse_args()
    source = ROOT / "BENCHMARKS.md"
    output = args.output or (OUT / "BENCHMARKS-quick.md" if args.quick else source)
    wanted = args.only.split(",") if args.only else [b.name for b in SUITE]
    unknown = sorted(set(wanted) - {b.name for b in SUITE})
    if unknown:
        parser.error(f"--only: unknown benchmark {', '.join(unknown)}; expected some of "
                     f"{', '.join(b.name for b in SUITE)}")
    selected = [b for b in SUITE if b.name in wanted]
    text = source.read_text(encoding="utf-8")
    try:  # before anything runs: every selected benchmark has its block
        present = block_names(text, source.name)
    except MarkerError as error:
        parser.error(str(error))
    missing = [b.name for b in selected if b.name not in present]
    if missing:
        parser.error(f"{source.name} has no block for {', '.join(missing)}: expected `<!-- bench:NAME:start -->` "
                     f"and `<!-- bench:NAME:end -->` lines where its tables belong")
    if any(b.python == PEERS for b in selected) and not (ROOT / PEERS).exists():
        parser.error(f"{PEERS} not found: run `make peers` first")

    OUT.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}  # measure this tree's code
    target, failed, began = "bench-quick" if args.quick else "bench", [], time.perf_counter()
    bodies: dict[str, str] = {}
    for bench in selected:
        body, outcome = run(bench, bench.quick if args.quick else bench.full, target, env)
        print(f"   {outcome}", flush=True)
        if body is None:
            failed.append(outcome)
            continue
        bodies[bench.name] = body
        write(output, with_blocks(source, bodies)[0])  # after each benchmark: an interrupted run keeps it
    failed += [f"measured but not written: {error}" for error in with_blocks(source, bodies)[1]]
    print(f"{len(selected) - len(failed)} of {len(selected)} blocks rewritten in {output} "
          f"({time.perf_counter() - began:.0f} s)")
    for outcome in failed:
        print(f"FAILED: {outcome}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
