"""A bounded load test of `entembed serve` on 127.0.0.1: requests/s and p50/p99 latency for neighbours and
recommend on the reference-size model (37,020 books + 41,758 links), with 1 and with 2 worker processes.

    .venv/bin/python benchmarks/bench_serve.py [--model models/demo-books] [--requests 2000] [--workers 1,2]

The model folder is built by the books demo (planted graph, seed 0) when it is missing. For each worker
count the server runs in its own process (`python -m entembed serve MODEL --workers W --map none`) and this
process fires a fixed number of requests at it, from 1 client (one request at a time: the latency of a
single query) and from 4 concurrent clients (keep-alive connections, one thread each); it then stops the
server. Query keys are drawn with a fixed seed. Nothing runs longer than the request counts allow.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np

from entembed.demo import books_demo
from entembed.vocab import Vocab

HISTORY = 5   # books in each recommend request's history
K = 10
WARMUP = 200  # requests before timing (per client)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: Path, port: int, workers: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "entembed", "serve", str(model), "--port", str(port),
                                "--workers", str(workers), "--map", "none", "--quiet"])
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
        if process.poll() is not None:
            break
    process.kill()
    raise SystemExit(f"the server on port {port} did not start")


def requests_for(kind: str, model: str, books: list[str], n: int, rng: np.random.Generator) -> list[tuple]:
    """n (method, path, body) tuples for ``kind``: neighbours of a random book, or a random 5-book history."""
    if kind == "neighbors":
        return [("GET", f"/v1/{model}/books/neighbors?key={quote(books[i])}&k={K}", None)
                for i in rng.integers(0, len(books), n)]
    histories = rng.integers(0, len(books), (n, HISTORY))
    return [("POST", f"/v1/{model}/recommend", json.dumps({"history": [books[i] for i in row], "k": K}).encode())
            for row in histories]


def client(port: int, work: list[tuple], latencies: list[float], errors: list[str]) -> None:
    """Send ``work`` one request at a time on one keep-alive connection, appending each latency (s)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    for method, path, body in work:
        started = time.perf_counter()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            errors.append(f"{response.status} {path}")


def load(port: int, work: list[tuple], clients: int) -> dict:
    """Fire ``work`` from ``clients`` threads (split evenly); requests/s over the wall time, latency percentiles."""
    warm = [[], []]
    client(port, work[:WARMUP], *warm)
    work = work[WARMUP:]
    results = [([], []) for _ in range(clients)]
    threads = [threading.Thread(target=client, args=(port, work[c::clients], *results[c])) for c in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies = np.concatenate([np.array(r[0]) for r in results]) * 1000
    errors = [e for r in results for e in r[1]] + warm[1]
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return {"requests": len(latencies), "clients": clients, "req_per_s": len(latencies) / wall,
            "p50_ms": float(np.percentile(latencies, 50)), "p99_ms": float(np.percentile(latencies, 99)),
            "max_ms": float(latencies.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/demo-books"))
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per scenario")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (args.model / "config.json").is_file():
        print(f"building {args.model} with the books demo (planted graph, seed 0)")
        books_demo(args.model, quiet=True)
    config = json.loads((args.model / "config.json").read_text())
    books = Vocab.load(args.model / config["tables"]["books"]["vocab"]).keys
    name = args.model.resolve().name
    rows = []
    started_load = os.getloadavg()
    for workers in map(int, args.workers.split(",")):
        port = free_port()
        server = start_server(args.model, port, workers)
        try:
            for kind in ("neighbors", "recommend"):
                for clients in map(int, args.clients.split(",")):
                    rng = np.random.default_rng(args.seed)
                    work = requests_for(kind, name, books, WARMUP + args.requests, rng)
                    row = {"workers": workers, "endpoint": kind, **load(port, work, clients)}
                    rows.append(row)
                    print(f"workers {workers}  {kind:9s}  clients {clients}  {row['req_per_s']:8.0f} req/s  "
                          f"p50 {row['p50_ms']:6.2f} ms  p99 {row['p99_ms']:6.2f} ms  max {row['max_ms']:6.1f} ms",
                          flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
    load_average = os.getloadavg()
    print(f"\n{os.cpu_count()} cores, load average {started_load[0]:.1f} at the start, {load_average[0]:.1f} at the "
          f"end; Python {platform.python_version()}")
    print("\n| workers | endpoint | concurrent clients | requests | req/s | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        endpoint = ("GET neighbors k=10" if r["endpoint"] == "neighbors"
                    else f"POST recommend ({HISTORY}-book history, k=10)")
        print(f"| {r['workers']} | {endpoint} | {r['clients']} | {r['requests']:,} | {r['req_per_s']:,.0f} | "
              f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} |")
    out = Path("benchmarks/out")
    out.mkdir(parents=True, exist_ok=True)
    record = {"rows": rows, "load_average": {"start": started_load, "end": load_average}}
    (out / "bench_serve.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
