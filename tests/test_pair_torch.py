"""The pair model's torch step (``--device cuda``), checked on the CPU against the compiled minibatch step."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from entembed import PairConfig, PairModel, Trainer, load, planted_books
from entembed.errors import InputError
from entembed.evaluate import neighbour_agreement
from entembed.models.pair import PairTask
from entembed.models.pair_torch import TorchPairTask
from entembed.storage import save_model

from conftest import run_cli

NO_GPU = not torch.cuda.is_available()


def on_cpu(task, rng) -> TorchPairTask:
    """The Trainer's task with its step in torch on the CPU (the path --device cuda takes on a GPU)."""
    return TorchPairTask(task, "cpu")


@pytest.fixture(scope="module")
def tiny():
    return planted_books(n_books=30, n_links=40, n_pairs=300, n_genres=3, seed=1).pairs


def two_tasks(pairs, config: PairConfig, optimizer: str):
    """A numba minibatch task and a torch task on two models that start from the same vectors."""
    tasks = []
    for _ in range(2):
        model = PairModel.for_data(pairs, config, seed=5)
        lr = PairModel.DEFAULT_LR[optimizer] * 4  # large steps: differences would show
        tasks.append(model.training_task(pairs, None, optimizer=optimizer, lr=lr, rng=np.random.default_rng(0)))
    return tasks[0], TorchPairTask(tasks[1], "cpu")


def assert_float_close(actual: np.ndarray, desired: np.ndarray) -> None:
    """Equal to float32 rounding: the kernel scores in float64, torch in float32, so an element near a
    cancellation may differ by a few ulps of the array's largest value."""
    np.testing.assert_allclose(actual, desired, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(desired).max())))


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "rmsprop", "adam", "row_adagrad"])
@pytest.mark.parametrize("loss", ["logistic", "mse", "bpr"])
@pytest.mark.parametrize("score,shared", [("dot", False), ("cosine", False), ("dot", True)])
def test_torch_step_equals_the_kernels_minibatch_step(tiny, optimizer, loss, score, shared):
    pairs = tiny
    if shared:  # one table: both sides' ids index it
        pairs = planted_books(n_books=30, n_links=30, n_pairs=300, n_genres=3, seed=1).pairs
        pairs = type(pairs)(pairs.left, pairs.right, pairs.left_vocab, pairs.left_vocab)
    config = PairConfig(dim=8, score=score, loss=loss, update="minibatch", l2=0.01, shared=shared)
    kernel_task, torch_task = two_tasks(pairs, config, optimizer)
    rng = np.random.default_rng(2)
    for _ in range(2):  # the second step starts from the optimizer state the first left
        chosen = rng.integers(0, len(pairs), 64)
        chosen[:8] = chosen[0]  # one pair many times in a batch: its rows' gradients are summed
        batch = (pairs.left[chosen], pairs.right[chosen],
                 rng.integers(0, len(pairs.right_vocab), (64, 3)).astype(np.int32),
                 rng.uniform(0.5, 2.0, 64).astype(np.float32))
        loss_kernel, samples_kernel = kernel_task.step(batch)
        loss_torch, samples_torch = torch_task.step(batch)
        assert samples_torch == samples_kernel == 64 * 4
        assert loss_torch == pytest.approx(loss_kernel, rel=1e-5)
        for table_kernel, table_torch in zip(kernel_task.tables, torch_task.task.tables):
            assert_float_close(table_torch, table_kernel)
        for state_kernel, state_torch in zip(kernel_task.states, torch_task.task.states):
            for part in state_kernel:
                assert_float_close(state_torch[part], state_kernel[part])
    assert not np.allclose(torch_task.task.tables[0], PairModel.for_data(pairs, config, seed=5).left.data.numpy())


def test_a_step_without_weights_treats_every_pair_as_weight_one(tiny):
    kernel_task, torch_task = two_tasks(tiny, PairConfig(dim=8, update="minibatch"), "adagrad")
    batch = (tiny.left[:32], tiny.right[:32], np.zeros((32, 2), np.int32), np.zeros(0, np.float32))
    assert torch_task.step(batch)[0] == pytest.approx(kernel_task.step(batch)[0], rel=1e-5)
    np.testing.assert_allclose(torch_task.task.tables[1], kernel_task.tables[1], rtol=1e-4, atol=1e-6)


def test_trains_the_planted_graph_as_well_as_the_kernel(small_graph):
    def genre_at_10(wrap) -> float:
        model = PairModel.for_data(small_graph.pairs, PairConfig(dim=16, update="minibatch"))
        Trainer(quiet=True, epochs=3, threads=1).fit(model, small_graph.pairs, wrap_task=wrap)
        return neighbour_agreement(model.tables["books"], small_graph.book_genre)

    kernel, in_torch = genre_at_10(None), genre_at_10(on_cpu)
    assert in_torch > 0.9 and abs(in_torch - kernel) < 0.02, (in_torch, kernel)


def test_a_model_trained_by_the_torch_step_saves_and_loads(small_graph, tmp_path):
    model = PairModel.for_data(small_graph.pairs, PairConfig(dim=8))
    history = Trainer(quiet=True, epochs=2, threads=1, validation=0.1).fit(model, small_graph.pairs, wrap_task=on_cpu)
    assert history.column("val_auc")[-1] > 0.75
    save_model(model, tmp_path / "model")
    loaded = load(tmp_path / "model")
    assert loaded.left.data.device.type == "cpu"
    np.testing.assert_array_equal(loaded.tables["books"].vectors, model.tables["books"].vectors)
    np.testing.assert_array_equal(loaded.optimizer_state["tables"][1]["state1"],
                                  model.optimizer_state["tables"][1]["state1"])


def test_the_device_picks_the_step_and_is_not_saved(small_graph, tmp_path):
    task = PairModel.for_data(small_graph.pairs, PairConfig(device="cpu")).training_task(
        small_graph.pairs, None, optimizer="adagrad", lr=0.2, rng=np.random.default_rng(0))
    assert type(task) is PairTask  # "cpu" keeps the compiled kernel
    model = PairModel.for_data(small_graph.pairs, PairConfig(dim=4, device="cuda:1"))
    save_model(model, tmp_path / "model")
    assert json.loads((tmp_path / "model" / "config.json").read_text())["model"]["device"] is None
    assert load(tmp_path / "model").config.device is None


@pytest.mark.parametrize("device,message", [("tpu", "device must be cpu, cuda or cuda:N. Got 'tpu' instead."),
                                            ("cuda:x", "device must be cpu, cuda or cuda:N. Got 'cuda:x' instead.")])
def test_a_malformed_device_is_refused(device, message):
    with pytest.raises(InputError, match=f"^{message.replace('.', '[.]')}$"):
        PairConfig(device=device)


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_a_missing_gpu_is_refused_when_training(small_graph):
    model = PairModel.for_data(small_graph.pairs, PairConfig(device="cuda"))
    with pytest.raises(InputError, match="^device cuda: torch finds no CUDA GPU on this machine; leave the device "
                                         "unset to train on the CPU[.]$"):
        Trainer(quiet=True, epochs=1).fit(model, small_graph.pairs)


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_cli_device_cuda_without_a_gpu_is_one_error_line(tmp_path):
    path = tmp_path / "pairs.csv"
    pd.DataFrame({"a": ["x", "y", "z"], "b": ["p", "q", "r"]}).to_csv(path, index=False)
    result = run_cli("train", "pairs", path, "--left", "a", "--right", "b", "--device", "cuda", "-q",
                     "-o", tmp_path / "model")
    assert result.returncode == 2
    assert result.stderr == ("error: --device cuda: torch finds no CUDA GPU on this machine; leave the device "
                             "unset to train on the CPU.\n")
    assert not (tmp_path / "model").exists()
