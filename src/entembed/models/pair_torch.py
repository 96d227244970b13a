"""The pair model's step in vectorised torch, so that a pair model trains on a GPU (``PairConfig.device``).

``TorchPairTask`` wraps a ``PairTask`` (its batches, negatives, validation and the model's tables and row
optimizer state) and replaces its step: the tables and the optimizer state live on the device, a batch's ids
travel there once, scores come from gathers, and each touched row's gradients are summed over the batch
(``index_add_``) and get one optimizer update and the weight decay, as ``pair_kernel``'s "minibatch" step
does, with the same losses, scores and optimizers. Negatives are still drawn on the CPU by the task's
``NegativeSampler``. Nothing in it assumes a CPU, so it runs on the CPU as well (how the tests check it
against the compiled kernel): there the device tensors are the model's own arrays, updated in place; on a
GPU they are copies, written back to the model's CPU tables after every epoch (``validate``) and before a
checkpoint (``sync_to_model``), so storage, ``Embeddings`` and scoring keep working on CPU tensors.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError

__all__ = ["TorchPairTask", "parse_device", "resolve_device", "score_gradients", "STATE_PARTS"]

#: The row optimizer's state parts (``pair_kernel.optimizer_state``), in the order the step takes them.
STATE_PARTS = ("state1", "state2", "row_steps")
DEVICE_TYPES = ("cpu", "cuda")


def parse_device(name: str) -> torch.device:
    """The torch device ``name`` spells ("cpu", "cuda", "cuda:N"), whether or not this machine has it."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise InputError(f"device must be cpu, cuda or cuda:N. Got {name!r} instead.", param="device")
    return device


def resolve_device(name: str) -> torch.device:
    """``parse_device(name)``, refused with an InputError when this machine has no such device."""
    device = parse_device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise InputError(f"device {name}: torch finds no CUDA GPU on this machine; leave the device unset to "
                             "train on the CPU.", param="device")
        if (device.index or 0) >= count:
            raise InputError(f"device {name}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}.",
                             param="device")
    return device


class TorchPairTask:
    """A ``PairTask`` whose step runs in torch on ``device`` (a minibatch step; see the module)."""

    def __init__(self, task: Any, device: str | torch.device):
        self.task = task
        self.device = resolve_device(device) if isinstance(device, str) else device
        # a minibatch step, so minibatch-sized whatever the update
        self.n_samples, self.default_batch_size = task.n_samples, task.minibatch_batch_size
        self.monitor, self.monitor_mode = task.monitor, task.monitor_mode
        cfg = task.cfg
        self.optimizer = task.model.optimizer_state["optimizer"]
        self.lr, self.loss, self.cosine, self.shared = task.lr, cfg.loss, cfg.score == "cosine", cfg.shared
        self.eps, self.beta1, self.beta2 = (float(h) for h in task.hyper)
        self.label_neg = task.label_neg
        self.decay = float(np.float32(1.0 - task.lr * cfg.l2)) if cfg.l2 else None
        # [table, state1, state2, row_steps] per trained table: the model's arrays on the CPU (shared memory)...
        self._host = [[torch.from_numpy(table)] + [torch.from_numpy(state[p]) for p in STATE_PARTS]
                      for table, state in zip(task.tables, task.states)]
        # ...and the tensors the step updates (the same tensors when the device is the CPU).
        self.tables = [[t.to(self.device) for t in parts] for parts in self._host]

    def __repr__(self) -> str:
        return f"TorchPairTask({self.optimizer}, {self.loss}, {'cosine' if self.cosine else 'dot'}, {self.device})"

    def batches(self, batch_size: int, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, ...]]:
        return self.task.batches(batch_size, rng)

    def step(self, batch: tuple[np.ndarray, ...]) -> tuple[float, int]:
        """One minibatch update from (left, right, negatives, weight); returns (summed loss, samples)."""
        left, right, negatives, weight = batch
        n, k = negatives.shape
        ids = torch.from_numpy(np.concatenate([left, right, negatives.ravel()]).astype(np.int64))
        ids = ids.to(self.device)                                         # the batch's ids, moved once
        li, ri = ids[:n], torch.cat([ids[n:2 * n, None], ids[2 * n:].view(n, k)], 1)  # (n,), (n, 1 + k)
        w = torch.from_numpy(weight).to(self.device, torch.float32) if len(weight) else None
        table_l, table_r = self.tables[0][0], self.tables[-1][0]
        u = table_l.index_select(0, li)                                   # (n, dim)
        v = table_r.index_select(0, ri.reshape(-1)).view(n, 1 + k, -1)   # (n, 1 + k, dim)
        scores = torch.bmm(v, u[:, :, None]).squeeze(2)                   # (n, 1 + k)
        if self.cosine:
            inv_l = 1.0 / u.norm(dim=1).clamp_min(1e-12)                  # (n,)
            inv_r = 1.0 / v.norm(dim=2).clamp_min(1e-12)                  # (n, 1 + k)
            scores = scores * inv_l[:, None] * inv_r
        losses, dscore = score_gradients(scores, w, self.loss, self.label_neg)
        if self.cosine:
            ul, vr = u * inv_l[:, None], v * inv_r[:, :, None]
            g = dscore[:, :, None]
            grad_l = (g * (vr - scores[:, :, None] * ul[:, None, :])).sum(1) * inv_l[:, None]
            grad_r = g * (ul[:, None, :] - scores[:, :, None] * vr) * inv_r[:, :, None]
        else:
            grad_l = torch.bmm(dscore[:, None, :], v).squeeze(1)         # (n, dim): summed over the group
            grad_r = dscore[:, :, None] * u[:, None, :]                   # (n, 1 + k, dim)
        rows_r, grad_r = ri.reshape(-1), grad_r.reshape(-1, grad_r.shape[-1])
        if self.shared:
            updates = [(torch.cat([li, rows_r]), torch.cat([grad_l, grad_r]))]
        else:
            updates = [(li, grad_l), (rows_r, grad_r)]
        for parts, (rows, grads) in zip(self.tables, updates):
            self._apply(parts, rows, grads)
        return float(losses.sum()), n * (1 + k)

    def _apply(self, parts: list[torch.Tensor], rows: torch.Tensor, grads: torch.Tensor) -> None:
        """Sum the gradients of each touched row, then one optimizer update (and decay) per row."""
        table, state1, state2, row_steps = parts
        touched, where = torch.unique(rows, return_inverse=True)
        g = torch.zeros(len(touched), grads.shape[1], device=grads.device).index_add_(0, where, grads)
        w = table.index_select(0, touched)
        if self.optimizer == "sgd":
            w -= self.lr * g
        elif self.optimizer in ("adagrad", "rmsprop"):
            s = state1.index_select(0, touched)
            s = s + g * g if self.optimizer == "adagrad" else self.beta1 * s + (1.0 - self.beta1) * g * g
            state1.index_copy_(0, touched, s)
            w -= self.lr * g / (s.sqrt() + self.eps)
        elif self.optimizer == "row_adagrad":  # one accumulator a row: the running sum of its mean squared gradient
            s = state1.index_select(0, touched) + (g * g).mean(1, keepdim=True)
            state1.index_copy_(0, touched, s)
            w -= self.lr * g / (s.sqrt() + self.eps)
        else:  # adam, with a step count per row
            steps = row_steps[touched] + 1.0
            row_steps[touched] = steps
            step_size = (self.lr / (1.0 - self.beta1 ** steps))[:, None]
            correction2 = (1.0 - self.beta2 ** steps)[:, None]
            m = self.beta1 * state1.index_select(0, touched) + (1.0 - self.beta1) * g
            s = self.beta2 * state2.index_select(0, touched) + (1.0 - self.beta2) * g * g
            state1.index_copy_(0, touched, m)
            state2.index_copy_(0, touched, s)
            w -= step_size * m / ((s / correction2).sqrt() + self.eps)
        if self.decay is not None:
            w *= self.decay
        table.index_copy_(0, touched, w)

    def sync_to_model(self) -> None:
        """Copy the device's tables and optimizer state into the model's CPU arrays (nothing to do on a CPU)."""
        if self.device.type != "cpu":
            for host, parts in zip(self._host, self.tables):
                for h, t in zip(host, parts):
                    h.copy_(t)

    def validate(self) -> dict[str, float]:
        self.sync_to_model()  # the Trainer validates after every epoch: the model's tables are current then
        return self.task.validate()


def score_gradients(scores: torch.Tensor, weight: torch.Tensor | None, loss: str, label_neg: float
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss of each positive with its negatives (n,), dloss/dscore (n, 1 + k)) of ``scores`` (n, 1 + k),
    positive first: pair_kernel's losses, a pair's ``weight`` scaling the terms of its positive."""
    if loss == "bpr":  # weight * softplus(-(s_pos - s_neg)) for each negative
        diff = scores[:, :1] - scores[:, 1:]
        scale = 1.0 if weight is None else weight[:, None]
        sig = scale * torch.sigmoid(-diff)
        return (scale * F.softplus(-diff)).sum(1), torch.cat([-sig.sum(1, keepdim=True), sig], 1)
    label = torch.full_like(scores, label_neg)
    label[:, 0] = 1.0
    scale = torch.ones_like(scores)
    if weight is not None:
        scale[:, 0] = weight
    if loss == "mse":  # labels 1 / -1
        return (scale * (scores - label) ** 2).sum(1), scale * 2.0 * (scores - label)
    return (scale * (F.softplus(scores) - label * scores)).sum(1), scale * (torch.sigmoid(scores) - label)
