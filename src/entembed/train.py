"""One Trainer for every model kind: epochs, batches, progress, history, validation, early stopping.

The step inside the loop is the model's own (see ``TrainingTask``): pair models update touched rows in
place with hand-written gradients; models with hidden layers take an autograd step (``AutogradTask``).
The Trainer owns the validation split (``validation_split``) and checks the optimizer against the model's;
checkpoints and reports are callbacks it is given, so it knows no file format.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import InputError, check_fraction, check_positive_int
from .models.base import EmbeddingModel, TrainingTask, default_epochs

__all__ = ["TrainSettings", "Trainer", "History", "EpochCallback", "TrainState", "StateCallback", "parse_every",
           "validation_split", "fit"]

#: Called after every epoch with (epoch number, that epoch's record); ``model.history`` is up to date by then.
EpochCallback = Callable[[int, dict], None]
#: Called every ``checkpoint_every`` steps or epochs with the state to continue from (a checkpoint writer).
StateCallback = Callable[["TrainState"], None]
CHECKPOINT_UNITS = ("steps", "epochs")


@dataclass
class TrainSettings:
    """How to train; ``None`` means "chosen from the data" (batch size, epochs) or "the model's default" (lr)."""

    epochs: int | None = None       # None: 10, or more on small data so that training takes >= 1,000 steps
                                    # (the pair model's Hogwild: steps of minibatch size)
    batch_size: int | None = None   # samples per step, negatives included; None: sized to the data
    lr: float | None = None         # None: the model's default for the optimizer
    optimizer: str | None = None    # sgd, adagrad, rmsprop, adam (pairs: row_adagrad too); None: the model's default
    seed: int = 0                   # same seed, same vectors (on the same machine)
    validation: float = 0.0         # share of the data held out to report validation metrics each epoch
    patience: int | None = None     # stop after this many epochs without improvement (needs a monitor)
    quiet: bool = False             # no progress bar
    threads: int | None = None      # CPU threads for training (None: all cores); 1 on a heavily shared machine
    checkpoint_every: int | None = None  # hand the state to ``on_checkpoint`` every N steps (or epochs)
    checkpoint_unit: str = "steps"  # what checkpoint_every counts: "steps" (over the whole run) or "epochs"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience", "threads", "checkpoint_every"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        if self.checkpoint_unit not in CHECKPOINT_UNITS:
            raise InputError(f"checkpoint_unit must be one of {', '.join(CHECKPOINT_UNITS)}. Got "
                             f"{self.checkpoint_unit!r} instead.", param="checkpoint_unit")
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


@dataclass
class TrainState:
    """Where a fit stands, with everything needed to continue it exactly: ``Trainer.fit(resume=state)``.

    A task draws an epoch's permutation and negatives from the generator when the epoch starts, so the state
    keeps the generator as it was then: a resumed fit restores it, draws the same epoch again and skips the
    ``step`` batches done. ``tensors`` are the model's own (not copies): write them before training goes on.
    """

    epoch: int                      # the epoch under way (1-based)
    step: int                       # its batches done
    steps_done: int                 # batches done in the whole fit (what checkpoint_every counts)
    rng: dict[str, Any]             # the numpy generator's state at the start of ``epoch``
    loss: float                     # summed loss, samples and seconds of the epoch's batches done
    samples: int
    seconds: float
    history: History                # the epochs finished
    best_value: float | None        # early stopping: the best monitored value, and epochs waited since
    waited: int
    optimizer: dict[str, Any]       # which optimizer state the tensors hold (JSON-ready)
    tensors: dict[str, torch.Tensor]  # "model.<name>" weights, "optimizer.<name>", "best.<name>", "torch_rng"
    batch_size: int | None = None   # samples a step: ``step`` counts steps of this size (None: not recorded)

    def part(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors named "<prefix>.<name>", by name."""
        return {k[len(prefix) + 1:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}

    def to_json(self) -> dict[str, Any]:
        """Everything but the tensors, as JSON-ready values."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "tensors"}
        return {**data, "history": self.history.to_dict()}

    @classmethod
    def from_json(cls, data: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "TrainState":
        return cls(**{**data, "history": History.from_dict(data["history"]), "tensors": tensors})


def parse_every(text: str) -> tuple[int, str]:
    """'500' or '500 steps' -> (500, 'steps'); '2 epochs' or '2epochs' -> (2, 'epochs')."""
    match = re.fullmatch(r"\s*(\d+)\s*(steps?|epochs?)?\s*", str(text))
    if not match or int(match.group(1)) < 1:
        raise InputError(f"checkpoint_every must be N (steps), 'N steps' or 'N epochs' with N >= 1. Got {text!r} "
                         "instead.", param="checkpoint_every")
    unit = (match.group(2) or "steps").rstrip("s") + "s"
    return int(match.group(1)), unit


class Trainer:
    """Fits any EmbeddingModel on its data with one loop."""

    def __init__(self, settings: TrainSettings | None = None, **overrides: Any):
        self.settings = settings or TrainSettings(**overrides)
        if settings is not None and overrides:
            self.settings = TrainSettings(**{**asdict(settings), **overrides})

    def fit(self, model: EmbeddingModel, data: Any, *, validation: Any = None,
            on_epoch: EpochCallback | Sequence[EpochCallback] = (), on_checkpoint: StateCallback | None = None,
            resume: TrainState | None = None,
            wrap_task: Callable[[TrainingTask, np.random.Generator], TrainingTask] | None = None) -> History:
        """Train ``model`` on ``data``; returns the History, also stored as ``model.history``.

        ``validation`` is data the caller held out itself (say, before fitting vocabs); otherwise
        ``settings.validation`` of the units is held out here, as the model says. ``on_epoch`` is called after
        every epoch (a checkpoint, a report); ``on_checkpoint`` every ``settings.checkpoint_every`` steps or
        epochs with a TrainState. ``resume``, a state handed to ``on_checkpoint`` by a fit of the same model,
        data and settings, continues that fit: the same vectors as if it had never stopped (bit for bit where
        the step is repeatable: one thread, or the pair model's minibatch update). ``wrap_task`` wraps the
        model's task (given the Trainer's random generator) before training: distributed training syncs the
        processes' updates that way.
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
                if resume is not None:  # before the task takes the weights and the optimizer state up
                    _restore(model, resume)
                task = model.training_task(data, validation, optimizer=optimizer, lr=lr, rng=rng)
                if resume is not None:
                    _restore_task(task, resume)
                task = wrap_task(task, rng) if wrap_task is not None else task
                model.train_settings = replace(s, optimizer=optimizer, lr=lr)  # saved with the model: what ran
                return self._fit(model, task, rng, callbacks, on_checkpoint, resume)
        finally:
            model.clear_tables()

    def _fit(self, model: EmbeddingModel, task: TrainingTask, rng: np.random.Generator,
             callbacks: list[EpochCallback], on_checkpoint: StateCallback | None,
             resume: TrainState | None) -> History:
        s = self.settings
        batch_size = s.batch_size or task.default_batch_size
        steps_per_epoch = math.ceil(task.n_samples / batch_size)
        # a task whose default steps are not its unit of learning says how many epochs its data needs
        task_epochs = getattr(task, "default_epochs", None) if s.batch_size is None else None
        epochs = s.epochs or task_epochs or default_epochs(steps_per_epoch)
        if resume is not None and resume.step and resume.batch_size != batch_size:
            raise InputError(_step_size_changed(resume, batch_size))
        at = resume or TrainState(epoch=1, step=0, steps_done=0, rng={}, loss=0.0, samples=0, seconds=0.0,
                                   history=History(), best_value=None, waited=0, optimizer={}, tensors={})
        history = model.history = History.from_dict(copy.deepcopy(at.history.to_dict()))
        best_value, waited, steps_done = at.best_value, at.waited, at.steps_done
        best_state = at.part("best") or None
        every = s.checkpoint_every if on_checkpoint is not None else None

        def checkpoint(epoch: int, step: int, totals: tuple[float, int, float]) -> None:
            if hasattr(task, "sync_to_model"):  # a task on a GPU: copy its rows back to the model first
                task.sync_to_model()
            kind, tensors = _optimizer_tensors(model, task)
            tensors = {**{f"model.{k}": v for k, v in model.state_dict().items()}, **tensors,
                       **{f"best.{k}": v for k, v in (best_state or {}).items()}, "torch_rng": torch.get_rng_state()}
            on_checkpoint(TrainState(epoch=epoch, step=step, steps_done=steps_done,
                                     rng=start if step else rng.bit_generator.state, loss=totals[0],
                                     samples=totals[1], seconds=totals[2], history=history, best_value=best_value,
                                     waited=waited, optimizer=kind, tensors=tensors, batch_size=batch_size))

        def on_step(epoch: int, step: int, totals: tuple[float, int, float]) -> None:
            nonlocal steps_done
            steps_done += 1
            if steps_done % every == 0:
                checkpoint(epoch, step, totals)

        per_step = every is not None and s.checkpoint_unit == "steps"
        for epoch in range(at.epoch, epochs + 1):
            resuming = resume is not None and epoch == at.epoch
            if resuming:
                rng.bit_generator.state = resume.rng
            start = rng.bit_generator.state
            skip, totals = (at.step, (at.loss, at.samples, at.seconds)) if resuming else (0, (0.0, 0, 0.0))
            record = self._run_epoch(task, batch_size, rng, epoch, epochs, skip, totals,
                                     functools.partial(on_step, epoch) if per_step else None)
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
            if every is not None and not per_step and epoch % every == 0 and epoch < epochs:
                checkpoint(epoch + 1, 0, (0.0, 0, 0.0))
        if best_state is not None and history.best_epoch != len(history.epochs):
            model.load_state_dict(best_state)
        return history

    def _run_epoch(self, task: TrainingTask, batch_size: int, rng: np.random.Generator, epoch: int,
                   epochs: int, skip: int = 0, totals: tuple[float, int, float] = (0.0, 0, 0.0),
                   on_step: Callable[[int, tuple[float, int, float]], None] | None = None) -> dict[str, float]:
        """One epoch; the first ``skip`` batches are drawn but not trained on (done before a resume), and
        ``totals`` (loss, samples, seconds) are theirs. ``on_step(steps done, totals)`` follows each step."""
        started = time.perf_counter() - totals[2]
        total_loss, total_samples = totals[:2]
        with tqdm(total=task.n_samples, disable=self.settings.quiet, unit="sample", unit_scale=True,
                  desc=f"epoch {epoch}/{epochs}", leave=False, mininterval=0.5, initial=total_samples) as bar:
            for step, batch in enumerate(task.batches(batch_size, rng)):
                if step < skip:
                    continue
                loss, samples = task.step(batch)
                total_loss += loss
                total_samples += samples
                bar.update(samples)
                if step % 25 == 0:
                    bar.set_postfix(loss=f"{total_loss / total_samples:.4f}", refresh=False)
                if on_step is not None:
                    on_step(step + 1, (total_loss, total_samples, time.perf_counter() - started))
        seconds = time.perf_counter() - started
        record = {"epoch": epoch, "loss": total_loss / max(total_samples, 1), "seconds": seconds,
                  "samples_per_second": total_samples / max(seconds, 1e-9)}
        return record


def _step_size_changed(state: TrainState, batch_size: int) -> str:
    """Why a fit cannot go on from ``state``, stopped within an epoch, with steps of ``batch_size`` samples."""
    if state.batch_size is None:
        took = "steps of a size it does not record (an older entembed wrote it)"
    else:
        took = f"steps of {state.batch_size:,} samples, where this entembed takes {batch_size:,}"
    return (f"the run to resume stopped {state.step} steps into epoch {state.epoch}, counting {took}: going on "
            "from there would skip other samples. Start afresh, or resume with the entembed that wrote it.")


def _optimizer_tensors(model: EmbeddingModel, task: TrainingTask) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The optimizer state of a fit under way, as (JSON-ready description, tensors named "optimizer.<name>"):
    the model's own (the pair model's row optimizer) or the task's torch optimizer's state_dict."""
    kept = model.optimizer_tensors()
    if kept is not None:
        return {"kind": "model", "name": kept[0]}, {f"optimizer.{k}": v for k, v in kept[1].items()}
    optimizer = getattr(task, "optimizer", None)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise InputError(f"checkpoint_every: a {model.kind} model's training keeps its optimizer where a "
                         "checkpoint cannot reach it; train without checkpoints.", param="checkpoint_every")
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return {"kind": "torch", "param_groups": state["param_groups"], "scalars": scalars}, tensors


def _restore(model: EmbeddingModel, state: TrainState) -> None:
    """Load the weights (and the model's own optimizer state) of ``state`` into ``model``."""
    try:
        model.load_state_dict(state.part("model"))
        if state.optimizer.get("kind") == "model":
            model.load_optimizer_tensors(state.optimizer["name"], state.part("optimizer"))
    except (RuntimeError, KeyError, ValueError) as exc:
        raise InputError(f"the state to resume from does not fit this {model.kind} model ({exc}).") from None


def _restore_task(task: TrainingTask, state: TrainState) -> None:
    """Load a torch optimizer's state into the task's optimizer, and torch's generator as it was."""
    if state.optimizer.get("kind") == "torch":
        grouped: dict[int, dict[str, Any]] = {}
        for name, value in [*state.part("optimizer").items(), *state.optimizer["scalars"].items()]:
            index, key = name.split(".", 1)
            grouped.setdefault(int(index), {})[key] = value
        try:
            task.optimizer.load_state_dict({"state": grouped, "param_groups": state.optimizer["param_groups"]})
        except (RuntimeError, KeyError, ValueError, AttributeError) as exc:
            raise InputError(f"the optimizer state to resume from does not fit this model ({exc}).") from None
    torch.set_rng_state(state.tensors["torch_rng"])


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
