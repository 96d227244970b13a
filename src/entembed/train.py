"""One Trainer for every model kind: epochs, batches, progress, history, validation, early stopping.

The step inside the loop is the model's own (see ``TrainingTask``): pair models update touched rows in
place with hand-written gradients; models with hidden layers take an autograd step (``AutogradTask``).
The Trainer owns the validation split (``validation_split``) and checks the optimizer against the model's;
checkpoints and reports are callbacks it is given, so it knows no file format.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import InputError, check_fraction, check_positive_int
from .models.base import EmbeddingModel, TrainingTask

__all__ = ["TrainSettings", "Trainer", "History", "EpochCallback", "validation_split", "fit"]

#: Called after every epoch with (epoch number, that epoch's record); ``model.history`` is up to date by then.
EpochCallback = Callable[[int, dict], None]


@dataclass
class TrainSettings:
    """How to train; ``None`` means "chosen from the data" (batch size, epochs) or "the model's default" (lr)."""

    epochs: int | None = None       # None: 10, or more on small data so that training takes >= 1,000 steps
    batch_size: int | None = None   # samples per step, negatives included; None: sized to the data
    lr: float | None = None         # None: the model's default for the optimizer
    optimizer: str | None = None    # sgd, adagrad, rmsprop, adam; None: the model's default
    seed: int = 0                   # same seed, same vectors (on the same machine)
    validation: float = 0.0         # share of the data held out to report validation metrics each epoch
    patience: int | None = None     # stop after this many epochs without improvement (needs a monitor)
    quiet: bool = False             # no progress bar
    threads: int | None = None      # CPU threads for training (None: all cores); 1 on a heavily shared machine

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "threads"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        check_fraction("validation", self.validation)
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise InputError(f"lr must be a number > 0. Got {self.lr!r} instead.", param="lr")
        if self.optimizer is not None and not isinstance(self.optimizer, str):
            raise InputError(f"optimizer must be a name such as 'adam'. Got {self.optimizer!r} instead.",
                             param="optimizer")

    def optimizer_for(self, model: type[EmbeddingModel] | EmbeddingModel) -> tuple[str, float]:
        """(optimizer name, learning rate) for ``model``: the model's defaults where these settings give none;
        an optimizer the model does not offer is refused with the ones it does."""
        name = self.optimizer or model.DEFAULT_OPTIMIZER
        if name not in model.DEFAULT_LR:
            raise InputError(f"optimizer must be one of {', '.join(model.DEFAULT_LR)} for a {model.kind} model. "
                             f"Got {name!r} instead.", param="optimizer")
        return name, self.lr if self.lr is not None else model.DEFAULT_LR[name]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainSettings":
        """Settings saved with a model (fields this version does not know are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class History:
    """Per-epoch records: loss (mean per sample), seconds, samples per second, validation metrics."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    def column(self, name: str) -> list[float]:
        return [row[name] for row in self.epochs if name in row]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "History":
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")


MIN_STEPS = 1_000  # on small data, train at least this many steps (p15-sized data converges by then)


class Trainer:
    """Fits any EmbeddingModel on its data with one loop."""

    def __init__(self, settings: TrainSettings | None = None, **overrides: Any):
        self.settings = settings or TrainSettings(**overrides)
        if settings is not None and overrides:
            self.settings = TrainSettings(**{**asdict(settings), **overrides})

    def fit(self, model: EmbeddingModel, data: Any, *, validation: Any = None,
            on_epoch: EpochCallback | Sequence[EpochCallback] = (),
            wrap_task: Callable[[TrainingTask, np.random.Generator], TrainingTask] | None = None) -> History:
        """Train ``model`` on ``data``; returns the History, also stored as ``model.history``.

        ``validation`` is data the caller held out itself (say, before fitting vocabs); otherwise
        ``settings.validation`` of the units is held out here, as the model says. ``on_epoch`` is called after
        every epoch (a checkpoint, a report). ``wrap_task`` wraps the model's task (given the Trainer's random
        generator) before training: distributed training syncs the processes' updates that way.
        """
        s = self.settings
        optimizer, lr = s.optimizer_for(model)
        callbacks = [on_epoch] if callable(on_epoch) else list(on_epoch)
        torch.manual_seed(s.seed)
        rng = np.random.default_rng(s.seed)
        if validation is None:  # drawn even when nothing is held out, so a seed means one stream of draws
            n_units, what = model.holdout_units(data)
            _, held = validation_split(n_units, s.validation, rng, what)
            if len(held):
                data, validation = model.hold_out(data, held)
        model.clear_tables()
        try:
            with _thread_count(s.threads):
                task = model.training_task(data, validation, optimizer=optimizer, lr=lr, rng=rng)
                task = wrap_task(task, rng) if wrap_task is not None else task
                model.train_settings = replace(s, optimizer=optimizer, lr=lr)  # saved with the model: what ran
                return self._fit(model, task, rng, callbacks)
        finally:
            model.clear_tables()

    def _fit(self, model: EmbeddingModel, task: TrainingTask, rng: np.random.Generator,
             callbacks: list[EpochCallback]) -> History:
        s = self.settings
        batch_size = s.batch_size or task.default_batch_size
        steps_per_epoch = math.ceil(task.n_samples / batch_size)
        epochs = s.epochs or max(10, min(200, math.ceil(MIN_STEPS / steps_per_epoch)))
        history = History()
        model.history = history
        best_value, best_state, waited = None, None, 0
        for epoch in range(1, epochs + 1):
            record = self._run_epoch(task, batch_size, rng, epoch, epochs, steps_per_epoch)
            model.clear_tables()
            record.update(task.validate())
            history.epochs.append(record)
            if not s.quiet:
                tqdm.write(_epoch_line(record, epochs))
            value = record.get(task.monitor)
            improved = value is not None and (best_value is None or (
                value > best_value if task.monitor_mode == "max" else value < best_value))
            if improved:
                best_value, history.best_epoch, waited = value, epoch, 0
                if s.patience is not None:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                waited += 1
            for callback in callbacks:
                callback(epoch, record)
            if s.patience is not None and waited >= s.patience:
                history.stopped_early = True
                break
        if best_state is not None and history.best_epoch != len(history.epochs):
            model.load_state_dict(best_state)
        return history

    def _run_epoch(self, task: TrainingTask, batch_size: int, rng: np.random.Generator, epoch: int,
                   epochs: int, steps: int) -> dict[str, float]:
        started = time.perf_counter()
        total_loss, total_samples = 0.0, 0
        bar = tqdm(total=task.n_samples, disable=self.settings.quiet, unit="sample", unit_scale=True,
                   desc=f"epoch {epoch}/{epochs}", leave=False, mininterval=0.5)
        for step, batch in enumerate(task.batches(batch_size, rng)):
            loss, samples = task.step(batch)
            total_loss += loss
            total_samples += samples
            bar.update(samples)
            if step % 25 == 0:
                bar.set_postfix(loss=f"{total_loss / total_samples:.4f}", refresh=False)
        bar.close()
        seconds = time.perf_counter() - started
        record = {"epoch": epoch, "loss": total_loss / max(total_samples, 1), "seconds": seconds,
                  "samples_per_second": total_samples / max(seconds, 1e-9)}
        return record


def _epoch_line(record: dict[str, float], epochs: int) -> str:
    """'epoch 3/10  loss 0.1234  val_auc 0.9512  2,345,678 samples/s  0.98s'."""
    metrics = "".join(f"  {k} {v:.4f}" for k, v in record.items() if k.startswith("val_"))
    return (f"epoch {record['epoch']}/{epochs}  loss {record['loss']:.4f}{metrics}  "
            f"{record['samples_per_second']:,.0f} samples/s  {record['seconds']:.2f}s")


@contextlib.contextmanager
def _thread_count(threads: int | None):
    """Run torch and numba with ``threads`` threads (None: leave them as they are), then restore them."""
    if threads is None:
        yield
        return
    import numba

    before = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        numba.set_num_threads(before[1])


def validation_split(n: int, share: float, rng: np.random.Generator, what: str = "rows"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (kept, held-out) indices of ``n`` units with ``share`` of them, drawn at random, held out."""
    order = rng.permutation(n)
    n_held = int(round(n * share))
    if share and not 0 < n_held < n:
        raise InputError(f"validation={share} leaves no {what} on one side of {n} {what}.", param="validation")
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def fit(model: EmbeddingModel, data: Any, **settings: Any) -> History:
    """Shorthand: ``Trainer(**settings).fit(model, data)``."""
    return Trainer(**settings).fit(model, data)
