"""Resume after a kill: a run stopped in the middle of an epoch and resumed from its checkpoint gives the same
vectors as a run never stopped (bit for bit: one thread, or the minibatch update whatever the threads); a
checkpoint of another run, and other bad input, is refused with one line, exit code 2, nothing lost."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from entembed import (History, InputError, NextItemConfig, NextItemModel, PairConfig, PairModel, Trainer,
                      TrainSettings, TrainState, load, read_pairs, save_model, train_pairs)
from entembed.checkpoints import RunCheckpoint, read_checkpoint, run_identity
from entembed.data.sequences import read_interactions
from entembed.train import parse_every


class Killed(Exception):
    """Stands for a kill in the in-process tests: raised after the checkpoint is written."""


def fit_killed_then_resumed(make_model, data, settings, folder: Path, kill_at: int):
    """Fit a fresh model, 'kill' it after its ``kill_at``-th checkpoint, then fit another fresh model resumed
    from the checkpoint on disk; returns (the resumed model, the state it resumed from)."""
    identity = {"kind": "test"}
    writer = RunCheckpoint(folder / "checkpoint", identity)

    def kill_after_writing(state):
        writer(state)
        if writer.writes == kill_at:
            raise Killed

    with pytest.raises(Killed):
        Trainer(settings).fit(make_model(), data, on_checkpoint=kill_after_writing)
    state = read_checkpoint(folder / "checkpoint", identity)
    model = make_model()
    Trainer(settings).fit(model, data, resume=state)
    return model, state


@pytest.mark.parametrize("update, threads, every, unit, optimizer", [
    ("hogwild", 1, 37, "steps", "row_adagrad"), ("minibatch", 2, 37, "steps", "row_adagrad"),
    ("hogwild", 1, 1, "epochs", "adagrad"), ("hogwild", 1, 37, "steps", "sgd")])
def test_pair_fit_resumed_from_a_checkpoint_equals_one_never_stopped(small_graph, tmp_path, update, threads,
                                                                     every, unit, optimizer):
    pairs, config = small_graph.pairs, PairConfig(update=update, dim=16)
    settings = TrainSettings(epochs=3, seed=5, quiet=True, threads=threads, batch_size=900, validation=0.1,
                             patience=5, checkpoint_every=every, checkpoint_unit=unit, optimizer=optimizer)
    whole = PairModel.for_data(pairs, config, seed=5)
    Trainer(settings).fit(whole, pairs)
    resumed, state = fit_killed_then_resumed(lambda: PairModel.for_data(pairs, config, seed=5), pairs, settings,
                                             tmp_path, kill_at=2)
    # 30,000 pairs less 10% held out, 300 positives a step: 90 steps an epoch; the 2nd checkpoint is at step 74
    # of epoch 1 (every 37 steps), or at the start of epoch 3 (every epoch)
    assert (state.epoch, state.step) == ((1, 74) if unit == "steps" else (3, 0))
    assert np.array_equal(whole.left.data.numpy(), resumed.left.data.numpy())
    assert np.array_equal(whole.right.data.numpy(), resumed.right.data.numpy())
    for column in ("loss", "val_auc"):
        assert whole.history.column(column) == resumed.history.column(column)
    assert resumed.optimizer_state["optimizer"] == optimizer
    for before, after in zip(whole.optimizer_state["tables"], resumed.optimizer_state["tables"]):
        assert all(np.array_equal(before[part], after[part]) for part in before)


def test_a_state_counted_in_steps_of_another_size_is_refused_mid_epoch(small_graph, tmp_path):
    """Defect: a checkpoint of a version whose Hogwild steps were smaller resumed silently, skipping as many
    of the new, larger steps (samples never trained on). Its step size is recorded now; mid-epoch, another
    size (or none recorded, an older entembed) is refused; at an epoch's start the step size does not matter."""
    pairs, config = small_graph.pairs, PairConfig(dim=8)
    settings = TrainSettings(epochs=2, seed=5, quiet=True, threads=1, batch_size=900, checkpoint_every=20)
    _, state = fit_killed_then_resumed(lambda: PairModel.for_data(pairs, config, seed=5), pairs, settings,
                                       tmp_path, kill_at=1)
    assert (state.epoch, state.step, state.batch_size) == (1, 20, 900)
    for recorded, took in ((None, "steps of a size it does not record (an older entembed wrote it)"),
                           (300, "steps of 300 samples, where this entembed takes 900")):
        state.batch_size = recorded
        with pytest.raises(InputError) as error:
            Trainer(settings).fit(PairModel.for_data(pairs, config, seed=5), pairs, resume=state)
        assert str(error.value) == (f"the run to resume stopped 20 steps into epoch 1, counting {took}: going on "
                                    "from there would skip other samples. Start afresh, or resume with the "
                                    "entembed that wrote it.")
    state.step = 0  # the start of an epoch: nothing to skip
    Trainer(settings).fit(PairModel.for_data(pairs, config, seed=5), pairs, resume=state)


def test_next_item_fit_resumed_keeps_adam_state_and_torch_generator(tmp_path, one_torch_thread):
    """An autograd model: Adam's state_dict (tensors in safetensors, the rest in JSON) and torch's generator
    (the step samples negatives from it) come back, so the resumed fit matches too."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"user": np.repeat(np.arange(300), 8), "item": rng.integers(0, 60, 2400),
                          "time": np.tile(np.arange(8), 300)})
    data = read_interactions(frame, user="user", item="item", time="time")
    config = NextItemConfig(dim=8, history=3)
    settings = TrainSettings(epochs=2, seed=1, quiet=True, optimizer="adam", batch_size=64, checkpoint_every=20)
    whole = NextItemModel.for_data(data, config, seed=1)
    Trainer(settings).fit(whole, data)
    resumed, state = fit_killed_then_resumed(lambda: NextItemModel.for_data(data, config, seed=1), data, settings,
                                             tmp_path, kill_at=2)
    assert (state.epoch, state.step) == (2, 7) and state.optimizer["kind"] == "torch"  # 33 steps an epoch
    for name, tensor in whole.state_dict().items():
        assert np.array_equal(tensor.numpy(), resumed.state_dict()[name].numpy()), name
    assert whole.history.column("loss") == resumed.history.column("loss")


def test_checkpoint_every_is_parsed_and_checked():
    assert parse_every("500") == (500, "steps") and parse_every("1 step") == (1, "steps")
    assert parse_every("2 epochs") == (2, "epochs") and parse_every("3epoch") == (3, "epochs")
    for bad in ("0", "two", "5 minutes", "-1"):
        with pytest.raises(InputError, match=r"checkpoint_every must be N \(steps\), 'N steps' or 'N epochs'"):
            parse_every(bad)
    with pytest.raises(InputError, match="checkpoint_unit must be one of steps, epochs. Got 'hours'"):
        TrainSettings(checkpoint_every=3, checkpoint_unit="hours")


# -- the command line, with a real SIGKILL -------------------------------------------------------------------

ARGS = ["--left", "book", "--right", "link", "--epochs", "4", "--threads", "1", "--seed", "7", "--batch-size", "300",
        "--dim", "16", "-q"]
EVERY = 150  # steps; an epoch of 30,000 pairs at 100 positives a step is 300 steps: the first lands mid-epoch


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory, small_graph):
    """(pairs CSV, the output folder of a run killed with SIGKILL right after its first checkpoint)."""
    root = tmp_path_factory.mktemp("killed")
    pairs = small_graph.pairs
    csv = root / "pairs.csv"
    pd.DataFrame({"book": np.asarray(pairs.left_vocab.keys, dtype=object)[pairs.left],
                  "link": np.asarray(pairs.right_vocab.keys, dtype=object)[pairs.right]}).to_csv(csv, index=False)
    output = root / "run"
    process = subprocess.Popen([sys.executable, "-m", "entembed", "train", "pairs", csv, *ARGS, "-o", output,
                                "--checkpoint-every", str(EVERY)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    state = output / "checkpoint" / "state.json"
    deadline = time.monotonic() + 240
    while not state.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, stderr.decode()
    return csv, output


def test_a_run_killed_mid_epoch_and_resumed_gives_the_vectors_of_one_never_killed(killed_run, tmp_path):
    csv, killed = killed_run
    killed = Path(shutil.copytree(killed, tmp_path / "killed"))  # the other tests refuse to resume the original
    saved = json.loads((killed / "checkpoint" / "state.json").read_text())["state"]
    assert (saved["epoch"], saved["step"]) == (1, EVERY)  # killed in the middle of the first epoch
    assert not (killed / "config.json").exists()
    resumed = tmp_path / "resumed"
    result = run_cli("train", "pairs", csv, *ARGS[:-1], "--resume", killed, "-o", resumed)
    assert result.returncode == 0, result.stderr
    assert f"resuming the run in {killed / 'checkpoint'} at epoch 1, step {EVERY}" in result.stdout
    assert not (killed / "checkpoint").exists()  # the finished run needs it no more
    whole = tmp_path / "whole"
    assert run_cli("train", "pairs", csv, *ARGS, "-o", whole).returncode == 0
    a, b = load(whole), load(resumed)
    assert np.array_equal(a.left.data.numpy(), b.left.data.numpy())
    assert np.array_equal(a.right.data.numpy(), b.right.data.numpy())
    assert a.history.column("loss") == b.history.column("loss") and len(b.history.epochs) == 4


def test_a_checkpoint_of_another_data_file_or_model_is_refused_and_kept(killed_run, tmp_path):
    csv, killed = killed_run
    before = digest(killed / "checkpoint")
    other = tmp_path / "other.csv"
    other.write_text(csv.read_text() + "one more book,one more link\n")
    result = run_cli("train", "pairs", other, *ARGS, "--resume", killed)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {killed / 'checkpoint'}: a checkpoint of another run "
                                                   "(data file pairs.csv (")
    assert "other.csv (" in lines[0] and "(the checkpoint is kept)" in lines[0]
    result = run_cli("train", "pairs", csv, *ARGS, "--dim", "32", "--resume", killed)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {killed / 'checkpoint'}: a checkpoint of another run (dim 16 in the "
                                     "checkpoint, 32 now); resume with the data file and options of that run, or "
                                     "train into another folder (the checkpoint is kept).")
    result = run_cli("train", "pairs", csv, *ARGS, "-o", killed)  # a new run would overwrite it
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {killed}: holds the checkpoint of an unfinished run "
                                     f"({killed / 'checkpoint'}); continue it with --resume {killed}, or remove "
                                     f"{killed / 'checkpoint'} to start afresh.")
    assert digest(killed / "checkpoint") == before and sorted(p.name for p in killed.iterdir()) == ["checkpoint"]


def test_checkpoint_identity_names_what_differs(tmp_path):
    config, settings = PairConfig(), TrainSettings(seed=1)
    data = {"file": "a.csv", "bytes": 10, "sha256": "ab" * 32, "left": "x", "right": "y"}
    identity = run_identity("pair", config, settings, data)
    RunCheckpoint(tmp_path / "checkpoint", identity)(
        TrainState(epoch=1, step=3, steps_done=3, rng={}, loss=0.0, samples=0, seconds=0.0, history=History(),
                   best_value=None, waited=0, optimizer={}, tensors={}))
    moved = run_identity("pair", config, TrainSettings(seed=1, threads=1, quiet=True),
                         {**data, "file": "renamed.csv"})
    assert read_checkpoint(tmp_path / "checkpoint", moved).step == 3  # a renamed copy, other threads: same run
    other = run_identity("pair", config, TrainSettings(seed=2, lr=0.1), {**data, "left": "z"})
    with pytest.raises(InputError, match=r"a checkpoint of another run \(left 'x' in the checkpoint, 'z' now; "
                                         r"lr None in the checkpoint, 0.1 now; seed 1 in the checkpoint, 2 now\)"):
        read_checkpoint(tmp_path / "checkpoint", other)
    with pytest.raises(InputError, match=r"\(a pair model in the checkpoint, a table model now\)"):
        read_checkpoint(tmp_path / "checkpoint", {**identity, "kind": "table"})


def test_checkpoint_every_on_a_finished_model_and_bad_values_are_refused(killed_run, small_graph, tmp_path):
    csv, _ = killed_run
    model = save_model(train_pairs(read_pairs(csv, left="book", right="link"), settings=TrainSettings(epochs=1)),
                       tmp_path / "model")
    result = run_cli("train", "pairs", csv, *ARGS, "--resume", model, "--checkpoint-every", "10")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: --checkpoint-every: {model} holds no unfinished run; training a "
                                     "finished model further (--resume MODEL) writes no checkpoints.")
    result = run_cli("train", "pairs", csv, *ARGS, "-o", tmp_path / "x", "--checkpoint-every", "0")
    assert result.returncode == 2 and result.stderr.startswith("error: --checkpoint-every must be N (steps)")
    assert not (tmp_path / "x").exists()


def test_parquet_without_the_named_columns_is_one_line_and_nothing_is_written(tmp_path):
    path = tmp_path / "pairs.parquet"
    pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"]}).to_parquet(path)
    result = run_cli("train", "pairs", path, "--left", "user", "--right", "book", "-o", tmp_path / "out", "-q",
                     "--checkpoint-every", "5")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {path}: no column 'book'; the columns are 'user', 'item'."
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_set_aside_by_a_kill_between_two_renames_is_found_again(tmp_path):
    from entembed.checkpoints import check_no_unfinished_run, find_checkpoint
    from entembed.errors import ModelFileError
    from entembed.storage import check_replaceable

    retired = tmp_path / "out" / ".checkpoint.4242.old"   # atomic_folder's name for the previous checkpoint
    retired.mkdir(parents=True)
    (retired / "state.json").write_text("{}")
    assert find_checkpoint(tmp_path / "out") == tmp_path / "out" / "checkpoint"
    assert (tmp_path / "out" / "checkpoint" / "state.json").read_text() == "{}" and not retired.exists()
    with pytest.raises(InputError, match="holds the checkpoint of an unfinished run"):
        check_no_unfinished_run(tmp_path / "out")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "checkpoint").write_text("a TensorFlow checkpoint index")   # not ours
    with pytest.raises(ModelFileError, match="is not an entembed model folder"):
        check_replaceable(tmp_path / "other")
