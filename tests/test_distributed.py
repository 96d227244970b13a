"""Distributed training of the pair model (issue 13): two real processes on 127.0.0.1 over gloo."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from entembed import InputError, Pairs, TrainSettings, Vocab, load, planted_books, read_pairs
from entembed.api import train_pairs
from entembed.distributed import STATE_RULES, shard
from entembed.evaluate import neighbour_agreement

from conftest import run_cli

TRAIN = ["--left", "book", "--right", "link", "--threads", "1", "--seed", "3"]


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory):
    """The planted books graph (a small one) as a CSV of (book, link) pairs, and its truth."""
    graph = planted_books(n_books=2000, n_links=2500, n_pairs=40_000, n_genres=10, noise=0.3, seed=2)
    path = tmp_path_factory.mktemp("graph") / "pairs.csv"
    books = np.asarray(graph.pairs.left_vocab.keys, dtype=object)
    links = np.asarray(graph.pairs.right_vocab.keys, dtype=object)
    pd.DataFrame({"book": books[graph.pairs.left], "link": links[graph.pairs.right]}).to_csv(path, index=False)
    return path, graph


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def genre_at_10(model, graph) -> float:
    table = model.tables["book"]
    truth = dict(zip(graph.pairs.left_vocab.keys, graph.book_genre))
    return neighbour_agreement(table, np.array([truth[k] for k in table.keys]))


def start(rank: int, port: int, *args: str, world: int = 2) -> subprocess.Popen:
    """`entembed ARGS` as process ``rank`` of ``world``, with the environment torchrun would give it."""
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
           "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(world)}
    return subprocess.Popen([sys.executable, "-m", "entembed", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_processes_under_torchrun_match_one_process(graph_file, tmp_path):
    path, graph = graph_file
    port = free_port()
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node",
                             "2", "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "entembed",
                             "train", "pairs", str(path), *TRAIN, "--epochs", "4", "-o", str(tmp_path / "two")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("saved") == 1  # process 0 alone writes and reports
    two = load(tmp_path / "two")
    one = train_pairs(read_pairs(path, left="book", right="link"),
                      settings=TrainSettings(epochs=4, threads=1, seed=3, quiet=True))
    one_score, two_score = genre_at_10(one, graph), genre_at_10(two, graph)
    assert one_score > 0.9 and abs(two_score - one_score) <= 0.02, (one_score, two_score)
    history = json.loads((tmp_path / "two" / "history.json").read_text())["epochs"]
    assert len(history) == 4 and all(row["sent_bytes"] > 1e6 for row in history)
    # the loss is summed over both processes: close to one process's, not half of it
    assert history[-1]["loss"] == pytest.approx(one.history.epochs[-1]["loss"], rel=0.1)


def wait_for_line(process: subprocess.Popen, text: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if text in line:
            return
        if not line and process.poll() is not None:
            pytest.fail(f"process ended ({process.returncode}) before {text!r}: {process.stderr.read()[-2000:]}")
    pytest.fail(f"no {text!r} within {seconds}s")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "hung"])
def test_a_process_that_dies_or_hangs_stops_the_other_within_bounded_time(graph_file, tmp_path, how):
    path, _ = graph_file
    port = free_port()
    args = ["train", "pairs", str(path), *TRAIN, "--epochs", "200", "--timeout", "5", "-o", str(tmp_path / "m")]
    first, second = start(0, port, *args), start(1, port, *args, "--quiet")
    try:
        wait_for_line(first, "epoch 1/200", 240)
        second.send_signal(how)
        stopped = time.monotonic()
        _, err = first.communicate(timeout=60)
        assert time.monotonic() - stopped < 30
        assert first.returncode == 2
        last = err.strip().splitlines()[-1]  # after what is left of the progress bar
        assert re.search(r"(^|\r|\])error: distributed training stopped: process 0 of 2 lost the others during a "
                         r"sync \(a process died, hung for more than 5s, or the network failed\): \S", last), last
        assert not (tmp_path / "m").exists()
    finally:
        for process in (first, second):
            process.kill()
            process.wait()


def test_a_shard_count_that_leaves_a_process_no_pairs_is_refused(tmp_path):
    pd.DataFrame({"book": ["a", "b"], "link": ["x", "y"]}).to_csv(tmp_path / "two.csv", index=False)
    process = start(0, free_port(), "train", "pairs", str(tmp_path / "two.csv"), *TRAIN, "-o", str(tmp_path / "m"),
                    world=3)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert err.strip() == ("error: 3 processes need at least 3 pairs; got 2: process 2 (counting from 0) would "
                           "have none. Use at most 2 processes.")
    assert not (tmp_path / "m").exists()


def test_a_process_alone_at_the_rendezvous_stops_with_one_line(tmp_path):
    pd.DataFrame({"book": ["a", "b"], "link": ["x", "y"]}).to_csv(tmp_path / "two.csv", index=False)
    port = free_port()
    process = start(0, port, "train", "pairs", str(tmp_path / "two.csv"), *TRAIN, "-o", str(tmp_path / "m"),
                    "--timeout", "3")   # process 1 never comes
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: distributed training could not start: the processes did not all meet at "
                          f"127.0.0.1:{port} within 3 s (")
    assert not (tmp_path / "m").exists()


def test_shards_split_the_pairs_between_the_processes():
    vocab = Vocab([f"k{i}" for i in range(7)])
    pairs = Pairs(np.arange(7, dtype=np.int32), np.arange(7, dtype=np.int32)[::-1].copy(), vocab, vocab)
    parts = [shard(pairs, rank, 3) for rank in range(3)]
    assert [p.left.tolist() for p in parts] == [[0, 3, 6], [1, 4], [2, 5]]
    assert [p.right.tolist() for p in parts] == [[6, 3, 0], [5, 2], [4, 1]]
    with pytest.raises(InputError, match=r"^8 processes need at least 8 pairs; got 7"):
        shard(pairs, 0, 8)


def test_every_row_optimizer_has_a_rule_for_its_state():
    from entembed.models import pair_kernel

    for name in pair_kernel.OPTIMIZERS:
        state = pair_kernel.optimizer_state(name, (5, 3))
        row_parts = {part for part, array in state.items() if array.shape[0] == 5}
        assert set(STATE_RULES[name]) == row_parts, name


def test_without_torchrun_the_cli_trains_in_one_process(graph_file, tmp_path):
    path, _ = graph_file
    result = run_cli("train", "pairs", path, *TRAIN, "--epochs", "1", "-q", "-o", tmp_path / "m")
    assert result.returncode == 0, result.stderr
    assert "sent_bytes" not in json.loads((tmp_path / "m" / "history.json").read_text())["epochs"][0]
