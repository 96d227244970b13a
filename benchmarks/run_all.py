"""Run every benchmark one after the other and write their tables into BENCHMARKS.md (issue 11).

Each benchmark runs in its own process (the peers in benchmarks/.peers-venv); its output is kept in
benchmarks/out/<name>.log, and the markdown tables it prints (with the line before each, and its command)
replace the section between the "suite" markers of BENCHMARKS.md, under the machine, load and date of the run.
The hand-written analysis sections of BENCHMARKS.md stay as they are. A failed benchmark is reported in its
place and the others still run; the script exits non-zero if any failed.

    make bench          # everything: about 60 minutes on the 2-core machine
    make bench-quick    # reduced runs: a few minutes
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
START, END = "<!-- suite:start (written by benchmarks/run_all.py) -->", "<!-- suite:end -->"
OURS, PEERS = "python", "benchmarks/.peers-venv/bin/python"   # "python": the interpreter running this script

#: name -> (interpreter, full arguments, quick arguments or None to skip in the quick run)
SUITE = {
    "planted graph speed (entembed, Keras replica, implicit BPR)":
        (PEERS, ["benchmarks/bench_pairs.py"], ["benchmarks/bench_pairs.py", "--methods", "entembed,bpr",
                                                 "--bpr-iterations", "20"]),
    "ranking protocol speed": (OURS, ["benchmarks/bench_evaluate.py"],
                               ["benchmarks/bench_evaluate.py", "--users", "2000", "--items", "10000"]),
    "MovieLens-100K leave-last-out recommendation": (OURS, ["benchmarks/bench_nextitem.py"],
                                                     ["benchmarks/bench_nextitem.py", "--quick"]),
    "Wikipedia books sample": (OURS, ["benchmarks/bench_books_p15.py"], ["benchmarks/bench_books_p15.py", "--seeds", "0"]),
    "MovieLens-100K rating RMSE": (OURS, ["benchmarks/bench_movielens.py", "--splits", "1,2,3,4,5", "--no-boosting"],
                                   None),
    "IMDB and rt-polarity": (OURS, ["benchmarks/bench_text.py"], None),
    "token study": (OURS, ["benchmarks/bench_tokens.py", "--seeds", "5"], ["benchmarks/bench_tokens.py", "--seeds", "1"]),
}


def tables(output: str) -> str:
    """The markdown tables of a benchmark's output, each with the line just before it (indented detail
    lines, such as per-seed values printed between rows, are left out)."""
    lines, kept = [line for line in output.splitlines() if not line.startswith("    ")], []
    for i, line in enumerate(lines):
        if line.startswith("|"):
            if i == 0 or not lines[i - 1].startswith("|"):
                kept += ["", lines[i - 1]] if i and lines[i - 1].strip() else [""]
            kept.append(line)
    return "\n".join(kept).strip()


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, load average at the start "
            f"{os.getloadavg()[0]:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated words: run the benchmarks whose name holds one")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    sections, failed = [], []
    for name, (python, full, quick) in SUITE.items():
        command = quick if args.quick else full
        if command is None or (args.only and not any(w in name for w in args.only.split(","))):
            continue
        shown = f"{'.venv/bin/python' if python == OURS else python} {' '.join(command)}"
        print(f"== {name}: {shown}", flush=True)
        started = time.perf_counter()
        interpreter = sys.executable if python == OURS else str(ROOT / python)
        run = subprocess.run([interpreter, *command], cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        log = OUT / (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".log")
        log.write_text(run.stdout + run.stderr)
        if run.returncode:
            failed.append(name)
            body = f"failed (exit code {run.returncode}); see {log.relative_to(ROOT)}"
        else:
            body = tables(run.stdout) or f"(no table printed; see {log.relative_to(ROOT)})"
        sections.append(f"### {name}\n\n`{shown}` ({seconds:.0f} s)\n\n{body}\n")
        print(f"   {'failed' if run.returncode else 'done'} in {seconds:.0f} s", flush=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (f"{START}\n## The benchmark suite, latest {'quick ' if args.quick else ''}run\n\n"
            f"Run {stamp} by `make {'bench-quick' if args.quick else 'bench'}` on {machine()}. Each table comes from "
            f"one run of its script, methods side by side, so ratios within a table hold on a noisy machine; "
            f"absolute seconds depend on the load.\n\n" + "\n".join(sections) + f"\n{END}")
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text(encoding="utf-8")
    if START in current and END in current:
        current = current[:current.index(START)] + text + current[current.index(END) + len(END):]
    else:
        current = current.rstrip() + "\n\n" + text + "\n"
    temporary = path.with_suffix(".md.tmp")
    temporary.write_text(current, encoding="utf-8")
    os.replace(temporary, path)
    print(f"wrote {path}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
