"""One Trainer for every model kind: epochs, batches, progress, history, validation, early stopping.

The step inside the loop is the model's own (see ``TrainingTask``): pair models update touched rows in
place with hand-written gradients; models with hidden layers take an autograd step (``AutogradTask``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import InputError, check_fraction, check_positive_int
from .models.base import EmbeddingModel, TrainingTask

__all__ = ["TrainSettings", "Trainer", "History", "AutogradTask", "TORCH_OPTIMIZERS", "make_torch_optimizer",
           "fit"]


@dataclass
class TrainSettings:
    """How to train; ``None`` means "chosen from the data" (batch size, epochs) or "the model's default" (lr)."""

    epochs: int | None = None       # None: 10, or more on small data so that training takes >= 1,000 steps
    batch_size: int | None = None   # samples per step, negatives included; None: sized to the data
    lr: float | None = None         # None: the default measured for the optimizer and model
    optimizer: str = "adagrad"      # sgd, adagrad, rmsprop, adam (lazy Adam for embedding tables)
    seed: int = 0                   # same seed, same vectors (on the same machine)
    validation: float = 0.0         # share of the data held out to report validation metrics each epoch
    patience: int | None = None     # stop after this many epochs without improvement (needs a monitor)
    quiet: bool = False             # no progress bar
    threads: int | None = None      # CPU threads for training (None: all cores); 1 on a heavily shared machine
    checkpoint_dir: str | None = None  # save the model folder here after every epoch

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "threads"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        check_fraction("validation", self.validation)
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise InputError(f"lr must be a number > 0. Got {self.lr!r} instead.")


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

    def fit(self, model: EmbeddingModel, data: Any, *, on_epoch: Callable[[int, dict], None] | None = None) -> History:
        """Train ``model`` on ``data``; returns the History, also stored as ``model.history``."""
        s = self.settings
        torch.manual_seed(s.seed)
        rng = np.random.default_rng(s.seed)
        with _thread_count(s.threads):
            return self._fit(model, data, rng, on_epoch)

    def _fit(self, model: EmbeddingModel, data: Any, rng: np.random.Generator,
             on_epoch: Callable[[int, dict], None] | None) -> History:
        s = self.settings
        task: TrainingTask = model.training_task(data, settings=s, rng=rng)
        batch_size = s.batch_size or task.default_batch_size
        steps_per_epoch = math.ceil(task.n_samples / batch_size)
        epochs = s.epochs or max(10, min(200, math.ceil(MIN_STEPS / steps_per_epoch)))
        history = History()
        best_value, best_state, waited = None, None, 0
        for epoch in range(1, epochs + 1):
            record = self._run_epoch(task, batch_size, rng, epoch, epochs, steps_per_epoch)
            record.update(task.validate())
            history.epochs.append(record)
            if not s.quiet:
                tqdm.write(_epoch_line(record, epochs))
            if on_epoch:
                on_epoch(epoch, record)
            value = record.get(task.monitor)
            improved = value is not None and (best_value is None or (
                value > best_value if task.monitor_mode == "max" else value < best_value))
            if improved:
                best_value, history.best_epoch, waited = value, epoch, 0
                if s.patience is not None:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                waited += 1
            if s.checkpoint_dir:
                from .storage import save_model
                model.history = history
                save_model(model, Path(s.checkpoint_dir), settings=s)
            if s.patience is not None and waited >= s.patience:
                history.stopped_early = True
                break
        if best_state is not None and history.best_epoch != len(history.epochs):
            model.load_state_dict(best_state)
        model.history = history
        model.train_settings = s
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


def fit(model: EmbeddingModel, data: Any, **settings: Any) -> History:
    """Shorthand: ``Trainer(**settings).fit(model, data)``."""
    return Trainer(**settings).fit(model, data)


# -- autograd models (hidden layers) ----------------------------------------------------------------------
TORCH_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
}


def make_torch_optimizer(name: str, parameters, lr: float) -> torch.optim.Optimizer:
    """The torch optimizer registered as ``name``."""
    try:
        return TORCH_OPTIMIZERS[name](parameters, lr=lr)
    except KeyError:
        raise InputError(f"optimizer must be one of {', '.join(TORCH_OPTIMIZERS)}. Got {name!r} instead.") from None


class AutogradTask:
    """A TrainingTask for models trained by autograd: shuffled minibatches of tensors, loss.backward().

    ``inputs`` is a tuple of tensors indexed along the first axis (the last one is the target);
    ``loss_fn(model, *batch)`` returns the summed loss of the batch.
    """

    monitor = "loss"
    monitor_mode = "min"

    def __init__(self, model: torch.nn.Module, inputs: tuple[torch.Tensor, ...],
                 loss_fn: Callable[..., torch.Tensor], optimizer: torch.optim.Optimizer, *,
                 validate: Callable[[], dict[str, float]] | None = None, monitor: str | None = None,
                 monitor_mode: str = "min", default_batch_size: int | None = None):
        self.model, self.inputs, self.loss_fn, self.optimizer = model, inputs, loss_fn, optimizer
        self.n_samples = len(inputs[0])
        self.default_batch_size = default_batch_size or int(np.clip(self.n_samples // 100, 32, 1024))
        self._validate = validate
        if monitor:
            self.monitor, self.monitor_mode = monitor, monitor_mode

    def batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        order = torch.from_numpy(rng.permutation(self.n_samples))
        for start in range(0, self.n_samples, batch_size):
            index = order[start:start + batch_size]
            yield tuple(t[index] for t in self.inputs)

    def step(self, batch: tuple[torch.Tensor, ...]) -> tuple[float, int]:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model, *batch)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach()), len(batch[0])

    def validate(self) -> dict[str, float]:
        if self._validate is None:
            return {}
        self.model.eval()
        with torch.no_grad():
            return self._validate()
