"""Data-parallel training of the pair model over several processes and machines, with torch.distributed.

Launched by ``torchrun`` (which sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): every process reads the
whole pairs file, so that all build the same vocabs (the vocab needs every key, and the ids must agree),
keeps pair i when i % world == rank (``shard``) and drops the rest, then trains its shard with the pair
model's own compiled step. The processes stay one model by a sparse all-reduce of the rows they touched:

* every ``sync_every`` steps (and at the end of every epoch), each process all-gathers the ids of the rows
  it touched since the last sync, every process forms the same union, and one all-reduce(SUM) adds up the
  dense ``[union, columns]`` deltas: each row minus its snapshot at the last sync, for the table and for
  the row optimizer's state. Sums are exact for what adds up (the table's updates, Adagrad's sum of squared
  gradients, Adam's step count); moving averages (RMSprop, Adam's moments) take the mean of the deltas of
  the processes that touched the row, which keeps them valid. Every process then writes the same values:
  the tables stay identical, bit for bit, on every process.
* a step is the same step on every process: ``batch_size`` stays the samples of one step over all the
  processes (each takes its 1/world share), so an epoch has as many steps as on one process and every
  process runs the same number of steps (a process whose shard runs out steps with nothing, and still syncs).
* losses are summed over the processes at each sync, validation AUC is each process's held-out share
  averaged by size: the epoch records, early stopping and the saved history are the same everywhere.
  Process 0 alone prints and writes the model folder.

Why a sparse all-reduce rather than PyTorch-BigGraph's partitioned tables: it keeps the step, the negative
sampler (negatives from the whole table, popularity sampling), shared tables, validation and every optimizer
exactly as on one process, in one wrapper around the task and no lock or parameter server; PBG's buckets
would restrict negatives to a partition and need a partition server. The price is bandwidth: a sync
sends the touched rows with their optimizer state, so the bytes an epoch grow with the rows a window
touches (see BENCHMARKS.md, "Several processes", for the measured bytes and the speed-up they allow).

The collectives carry tensors on the backend's device: gloo on CPU (the default), nccl on the process's GPU
(``cuda:LOCAL_RANK``) when each process has one. The pair step itself is a CPU (numba) kernel either way: a
GPU only carries the all-reduce. A process that dies makes the others raise ``PeerLostError`` at their next
collective (at once when its sockets close, within ``timeout`` seconds when it hangs).

Memory: each process holds all the pairs (for the vocabs and the negatives) and, beside the tables and
their optimizer state, a snapshot of both as they were at the last sync: twice the model's own memory.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist

from .data.negatives import NegativeSampler
from .data.pairs import Pairs
from .errors import EntembedError, InputError, check_positive_int
from .models.pair import PairConfig, PairModel, PairTask, default_batch_size
from .train import EpochCallback, History, Trainer, TrainSettings

__all__ = ["Cluster", "PeerLostError", "SyncedPairTask", "connect", "launched", "shard", "fit_pairs",
           "train_pairs_distributed", "DEFAULT_SYNC_EVERY", "DEFAULT_TIMEOUT", "STATE_RULES"]

#: Steps between syncs: 1 keeps the processes' tables closest to one process's; more sends fewer bytes an
#: epoch (reference-size planted graph, 2 processes, 3 epochs: genre@10 0.9982 / 0.9980 / 0.9976 at 1 / 8 /
#: 32 against 0.9981 for one process, 1,074 / 556 / 204 MB sent an epoch; BENCHMARKS.md).
DEFAULT_SYNC_EVERY = 1
#: Seconds a collective waits for the other processes before it gives up (a hung or unreachable process).
DEFAULT_TIMEOUT = 300.0
#: How each row optimizer's state parts combine over the processes: "sum" where the processes' updates add
#: up, "mean" (over the processes that touched the row) where the part is a moving average.
STATE_RULES = {"sgd": {}, "adagrad": {"state1": "sum"}, "row_adagrad": {"state1": "sum"},
               "rmsprop": {"state1": "mean"}, "adam": {"state1": "mean", "state2": "mean", "row_steps": "sum"}}


class PeerLostError(EntembedError):
    """Another process died, hung past the timeout, or became unreachable during distributed training."""


def launched() -> tuple[int, int] | None:
    """(rank, world size) when this process was started by torchrun with two or more processes, else None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else None


@dataclass
class Cluster:
    """This process's place in the process group, and the bytes it has sent through it."""

    rank: int
    world: int
    backend: str
    device: torch.device
    timeout: float
    #: Bytes this process has sent, by collective, under the ring algorithms' costs (see ``_count``).
    sent: dict[str, int] = field(default_factory=lambda: {"all_reduce": 0, "all_gather": 0, "broadcast": 0})
    wait_seconds: float = 0.0  # spent inside collectives (sending, and waiting for slower processes)

    @property
    def sent_bytes(self) -> int:
        return sum(self.sent.values())

    def all_sum(self, array: np.ndarray, what: str) -> np.ndarray:
        """The element-wise sum of ``array`` over the processes."""
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        self._run(what, dist.all_reduce, tensor)
        self._count("all_reduce", 2 * (self.world - 1) / self.world * tensor.nbytes)  # reduce-scatter + gather
        return tensor.cpu().numpy()

    def all_gather(self, array: np.ndarray, what: str) -> np.ndarray:
        """(world, *array.shape): every process's ``array`` (all the same shape), in rank order."""
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        out = torch.empty(self.world * tensor.numel(), dtype=tensor.dtype, device=self.device)
        self._run(what, dist.all_gather_single, out, tensor.reshape(-1))
        self._count("all_gather", (self.world - 1) * tensor.nbytes)  # its part passes every other process
        return out.cpu().numpy().reshape((self.world, *array.shape))

    def broadcast(self, array: np.ndarray, what: str) -> None:
        """Overwrite ``array`` in place with process 0's."""
        tensor = torch.from_numpy(array).to(self.device)
        self._run(what, dist.broadcast, tensor, 0)
        if self.rank == 0:
            self._count("broadcast", tensor.nbytes)
        if tensor.device.type != "cpu":  # on the CPU the tensor shares the array's memory
            array[...] = tensor.cpu().numpy()

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    def _run(self, what: str, collective, *args) -> None:
        started = time.perf_counter()
        try:
            collective(*args)
            self.wait_seconds += time.perf_counter() - started
        except (RuntimeError, dist.DistError) as exc:
            cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PeerLostError(
                f"distributed training stopped: process {self.rank} of {self.world} lost the others during "
                f"{what} (a process died, hung for more than {self.timeout:g}s, or the network failed): "
                f"{cause}") from None

    def _count(self, kind: str, nbytes: float) -> None:
        self.sent[kind] += int(round(nbytes))


def connect(*, backend: str | None = None, timeout: float = DEFAULT_TIMEOUT, init_method: str = "env://",
            rank: int | None = None, world: int | None = None) -> Cluster:
    """Join the process group (torchrun's environment by default) and return this process's Cluster.

    ``backend`` None picks nccl when every process of this machine has a GPU of its own, else gloo; a
    collective that waits more than ``timeout`` seconds fails (``PeerLostError``) rather than hang.
    """
    if not timeout > 0:
        raise InputError(f"timeout must be a number of seconds > 0. Got {timeout!r} instead.", param="timeout")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend is None:
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        backend = "nccl" if dist.is_nccl_available() and gpus >= local_world else "gloo"
    if backend not in ("gloo", "nccl"):
        raise InputError(f"backend must be gloo or nccl. Got {backend!r} instead.", param="backend")
    device = torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, init_method=init_method, rank=rank if rank is not None else -1,
                                    world_size=world if world is not None else -1,
                                    timeout=datetime.timedelta(seconds=timeout))
        except RuntimeError as exc:  # no rendezvous: an unreachable address, a port in use, a process missing
            where = (f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
                     if init_method == "env://" else init_method)
            raise PeerLostError(f"distributed training could not start: the processes did not all meet at {where} "
                                f"within {timeout:g} s ({str(exc).splitlines()[0][:200]}).") from None
    return Cluster(dist.get_rank(), dist.get_world_size(), backend, device, timeout)


def shard(pairs: Pairs, rank: int, world: int) -> Pairs:
    """Process ``rank``'s share of ``pairs``: pair i when i % world == rank (shards differ by one pair at most)."""
    if len(pairs) < world:
        raise InputError(f"{world} processes need at least {world} pairs; got {len(pairs)}: process {len(pairs)} "
                         f"(counting from 0) would have none. Use at most {len(pairs)} processes.")
    return pairs.subset(np.arange(rank, len(pairs), world))


class SyncedPairTask:
    """A PairTask whose updates are summed over the processes every ``sync_every`` steps (see the module)."""

    def __init__(self, task: PairTask, cluster: Cluster, sync_every: int, rng: np.random.Generator):
        self.task, self.cluster, self.sync_every = task, cluster, check_positive_int("sync_every", sync_every)
        self.group = 1 + task.cfg.negatives
        counts = cluster.all_sum(np.array([len(task.train)], np.int64), "setup")
        self.n_pairs = int(counts[0])  # over all the processes
        self.n_samples = self.n_pairs * self.group
        # minibatch-sized steps whatever the update: a sync every --sync-every steps keeps its meaning
        self.default_batch_size = default_batch_size(self.n_pairs, task.cfg.negatives)
        self.monitor, self.monitor_mode = task.monitor, task.monitor_mode
        # Each process draws its own batches and negatives (the same seed would draw the same negatives).
        self.rng = np.random.default_rng([int(rng.integers(2**62)), cluster.rank])
        self.rules = STATE_RULES[task.model.optimizer_state["optimizer"]]
        for array in self._arrays():  # one start for all, whatever each process's seed or hardware
            cluster.broadcast(array, "setup")
        self.snapshots = [[array.copy() for array in arrays] for arrays in self._parts()]
        self.touched = [np.zeros(table.shape[0], bool) for table in task.tables]
        self.window_loss, self.window_samples, self.reported = 0.0, 0, 0
        self.syncs, self.sync_seconds = 0, 0.0  # this epoch's, reported with its validation metrics
        self.epoch_start = (cluster.sent_bytes, cluster.wait_seconds)

    def _parts(self) -> list[list[np.ndarray]]:
        """Per table: the table, then its optimizer-state parts that are synced (in ``rules`` order)."""
        return [[table] + [state[name] for name in self.rules] for table, state in zip(self.task.tables,
                                                                                       self.task.states)]

    def _arrays(self) -> Iterator[np.ndarray]:
        for arrays in self._parts():
            yield from arrays

    def batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[Any, bool]]:
        """(this process's share of a step's batch or None, whether the step ends with a sync), as many
        steps on every process: ceil(all pairs / positives a step)."""
        steps = math.ceil(self.n_pairs / max(1, batch_size // self.group))
        share = math.ceil(len(self.task.train) / steps)
        own = self.task.batches(share * self.group, self.rng)
        self.syncs, self.sync_seconds = 0, 0.0
        self.epoch_start = (self.cluster.sent_bytes, self.cluster.wait_seconds)
        for step in range(steps):
            yield next(own, None), (step + 1) % self.sync_every == 0 or step == steps - 1

    def step(self, batch: tuple[Any, bool]) -> tuple[float, int]:
        """This process's step, then the sync when due. Between syncs the loss is reported as 0 and at a
        sync as the sum over all the processes since the last one (the samples likewise, less those
        reported), so every process records the same loss."""
        own, sync = batch
        loss, samples = 0.0, 0
        if own is not None:
            loss, samples = self.task.step(own)
            self._mark(own)
        self.window_loss += loss
        self.window_samples += samples
        if not sync:
            self.reported += samples
            return 0.0, samples
        started = time.perf_counter()
        total_loss, total_samples = self._sync()
        self.syncs, self.sync_seconds = self.syncs + 1, self.sync_seconds + time.perf_counter() - started
        reported, self.reported = self.reported, 0
        self.window_loss, self.window_samples = 0.0, 0
        return total_loss, total_samples - reported

    def _mark(self, batch: tuple[np.ndarray, ...]) -> None:
        left, right, negatives, _ = batch
        if len(self.touched) == 1:
            self.touched[0][left] = self.touched[0][right] = self.touched[0][negatives.ravel()] = True
        else:
            self.touched[0][left] = True
            self.touched[1][right] = self.touched[1][negatives.ravel()] = True

    def _sync(self) -> tuple[float, int]:
        """Sum the deltas of the rows any process touched since the last sync; returns (loss, samples)
        summed over the processes since then."""
        own = [np.flatnonzero(mask).astype(np.int32) for mask in self.touched]
        header = np.array([self.window_loss, self.window_samples, *map(len, own)], np.float64)
        headers = self.cluster.all_gather(header, "a sync")
        lengths = headers[:, 2:].astype(np.int64)  # (world, tables)
        padded = np.full(int(lengths.sum(1).max()), -1, np.int32)
        padded[: sum(map(len, own))] = np.concatenate(own)
        gathered = self.cluster.all_gather(padded, "a sync")
        unions, counts = self._unions(gathered, lengths)
        deltas = [np.concatenate([_columns(part[rows] - snap[rows]) for part, snap in zip(parts, snaps)], axis=1)
                  for parts, snaps, rows in zip(self._parts(), self.snapshots, unions)]
        summed = self.cluster.all_sum(np.concatenate([d.ravel() for d in deltas]), "a sync")
        offset = 0
        for parts, snaps, rows, count, delta in zip(self._parts(), self.snapshots, unions, counts, deltas):
            block = summed[offset: offset + delta.size].reshape(delta.shape)
            offset += delta.size
            column = 0
            for part, snap, rule in zip(parts, snaps, ["sum", *self.rules.values()]):
                width = 1 if part.ndim == 1 else part.shape[1]
                change = block[:, column: column + width].reshape((len(rows), *part.shape[1:]))
                column += width
                if rule == "mean":
                    change = change / count.reshape((-1,) + (1,) * (part.ndim - 1))
                part[rows] = snap[rows] = snap[rows] + change
        for mask, rows in zip(self.touched, unions):
            mask[rows] = False
        return float(headers[:, 0].sum()), int(headers[:, 1].sum())

    def _unions(self, gathered: np.ndarray, lengths: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per table: the rows any process touched (sorted), and how many processes touched each."""
        per_table: list[list[np.ndarray]] = [[] for _ in self.touched]
        for ids, sizes in zip(gathered, lengths):
            for table, (start, stop) in enumerate(zip(np.r_[0, np.cumsum(sizes)[:-1]], np.cumsum(sizes))):
                per_table[table].append(ids[start:stop])
        unions, counts = [], []
        for ids in per_table:
            rows = np.sort(np.concatenate(ids))
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else np.zeros(0, np.int64)
            unions.append(rows[starts])
            counts.append(np.diff(np.r_[starts, len(rows)]).astype(np.float32))
        return unions, counts

    def validate(self) -> dict[str, float]:
        """Each process's validation metrics averaged by its held-out pairs; and this process's epoch: the
        bytes it sent, its syncs, the seconds they took and the seconds of those inside collectives."""
        metrics = self.task.validate()
        held = 0 if self.task.val is None else len(self.task.val)
        names = sorted(metrics)
        sums = self.cluster.all_sum(np.array([held, *(held * metrics[n] for n in names)], np.float64),
                                    "validation")
        result = {name: float(value / sums[0]) for name, value in zip(names, sums[1:])}
        sent, waited = self.epoch_start
        return {**result, "sent_bytes": float(self.cluster.sent_bytes - sent), "syncs": float(self.syncs),
                "sync_seconds": self.sync_seconds, "wait_seconds": self.cluster.wait_seconds - waited}


def _columns(array: np.ndarray) -> np.ndarray:
    """A (rows,) or (rows, dim) array as (rows, columns) float32."""
    return array.reshape(len(array), -1).astype(np.float32, copy=False)


def fit_pairs(model: PairModel, own: Pairs, cluster: Cluster, settings: TrainSettings | None = None, *,
              sync_every: int = DEFAULT_SYNC_EVERY, on_epoch: EpochCallback | Sequence[EpochCallback] = (),
              everything: Pairs | None = None) -> History:
    """Train ``model`` on this process's pairs ``own`` together with the other processes (each calls it
    with its own shard); only process 0 shows progress. Returns the History, the same on every process.
    ``everything``: all the pairs (as every process read them), so that negatives are drawn as on one
    process: never a positive of another shard, popularity counted over all the pairs."""
    check_positive_int("sync_every", sync_every)
    settings = settings or TrainSettings()
    fingerprint = _fingerprint(model)
    every = cluster.all_gather(fingerprint, "setup")
    if not (every == fingerprint).all():
        differ = int(np.flatnonzero((every != fingerprint).any(axis=1))[0])
        raise InputError(f"process {differ} built other vocabs or tables than process {cluster.rank} "
                         f"({_sizes(model)} here): every process must read the same pairs file with the same "
                         f"options.")
    if not model.config.shared:  # rows of keys no process pairs stay untrained (zero), others are trained
        paired = np.bincount(own.left, minlength=len(model.left_vocab)).astype(np.int32)
        model.untrained_left &= cluster.all_sum(paired, "setup") == 0
    if cluster.rank != 0:
        settings = replace(settings, quiet=True)
    def wrap(task: PairTask, rng: np.random.Generator) -> SyncedPairTask:
        if everything is not None:
            task.sampler = NegativeSampler(everything, ratio=model.config.negatives,
                                           distribution=model.config.sampling)
        return SyncedPairTask(task, cluster, sync_every, rng)

    return Trainer(settings).fit(model, own, on_epoch=on_epoch, wrap_task=wrap)


def train_pairs_distributed(pairs: Pairs, *, config: PairConfig | None = None,
                            settings: TrainSettings | None = None, sync_every: int = DEFAULT_SYNC_EVERY,
                            timeout: float = DEFAULT_TIMEOUT) -> PairModel:
    """``api.train_pairs`` in a process that torchrun started: every process passes all the pairs (the same
    on each) and trains its shard with the others; the model returned is the same on every process."""
    ranked = launched()
    if ranked is None:
        raise InputError("distributed training runs in processes started by torchrun (WORLD_SIZE >= 2); "
                         f"got WORLD_SIZE={os.environ.get('WORLD_SIZE', 'unset')}.")
    settings = settings or TrainSettings()
    if settings.threads is None:  # torch's count follows OMP_NUM_THREADS, which torchrun sets to 1 by default
        settings = replace(settings, threads=torch.get_num_threads())  # when processes share a machine
    own = shard(pairs, *ranked)  # refused before any process waits for the others
    model = PairModel.for_data(pairs, config, seed=settings.seed)
    cluster = connect(timeout=timeout)
    try:
        fit_pairs(model, own, cluster, settings, sync_every=sync_every, everything=pairs)
    finally:
        cluster.close()
    return model


def _fingerprint(model: PairModel) -> np.ndarray:
    """Eight bytes of a hash of the model's config and keys, as int64 values, to compare across processes."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(repr(sorted(model.config_dict().items())).encode())
    for vocab in model.vocabs().values():
        digest.update(len(vocab).to_bytes(8, "little"))
        digest.update("\x00".join(map(str, vocab.keys)).encode())
    return np.frombuffer(digest.digest(), np.int64).copy()


def _sizes(model: PairModel) -> str:
    return ", ".join(f"{len(vocab)} {name}" for name, vocab in model.vocabs().items())
