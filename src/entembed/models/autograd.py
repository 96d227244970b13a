"""Training by autograd, for models with hidden layers: shuffled minibatches of tensors, loss.backward().

The pair model does not use it (its step is hand-written and compiled); the table, text and next-item models do.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch

__all__ = ["AutogradTask", "TORCH_OPTIMIZERS", "make_torch_optimizer"]

TORCH_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
}


def make_torch_optimizer(name: str, parameters, lr: float) -> torch.optim.Optimizer:
    """The torch optimizer registered as ``name`` (the Trainer has checked the name against the model's)."""
    return TORCH_OPTIMIZERS[name](parameters, lr=lr)


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
