"""Next-item model: a bag of a user's last N items scores every item of the catalogue as the next one.

Kind "next-item"; its item table is ``tables['items']``. A full softmax over the catalogue, or a sampled one
(uniform negatives) for large catalogues; scoring with the input table (tied) or a table of its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.bags import Bags
from ..data.sequences import Interactions, history_windows, last_items, leave_last_out
from ..errors import InputError, check_positive_int
from ..evaluate import hit_rate, ndcg, ranks_of_targets
from ..vocab import Vocab
from .bags import BAG_DEFAULT_LR, PREDICT_CHUNK, BagConfig, BagEncoder, BagTask, bag_optimizer, config_from_dict
from .base import EmbeddingModel, register_model

__all__ = ["SOFTMAX", "NextItemConfig", "NextItemModel"]

SOFTMAX = ("full", "sampled")


@dataclass
class NextItemConfig(BagConfig):
    """A bag of a user's last ``history`` items predicts the next item over the whole catalogue."""

    dim: int = 64
    history: int = 5          # the input bag: this many last items
    softmax: str = "full"     # "full" over every item, or "sampled" (uniform negatives) for large catalogues
    negatives: int = 1000     # sampled softmax: items drawn per batch, shared by its rows
    tied: bool = True         # score items with the input table (one table) or with a table of their own

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("history", self.history)
        check_positive_int("negatives", self.negatives)
        if self.nb_weights:
            raise InputError("nb_weights needs a binary label; a next-item model has none.", param="nb_weights")
        if self.softmax not in SOFTMAX:
            raise InputError(f"softmax must be one of {', '.join(SOFTMAX)}. Got {self.softmax!r} instead.", param="softmax")
        if self.tied and self.hidden and self.hidden != self.dim:
            raise InputError(f"tied=True scores items with the input table, so hidden must be 0 or dim "
                             f"({self.dim}). Got {self.hidden} instead.")


@register_model
class NextItemModel(EmbeddingModel):
    """Pools a user's last items into a vector and scores every item as the next one (softmax)."""

    kind = "next-item"
    DEFAULT_OPTIMIZER = "adam"
    DEFAULT_LR = BAG_DEFAULT_LR

    def __init__(self, vocab: Vocab, config: NextItemConfig | None = None, *, seed: int = 0):
        super().__init__()
        self.vocab, self.config = vocab, config or NextItemConfig()
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng():  # the hidden layer draws from torch's global generator: seed it here
            torch.manual_seed(seed)
            self.bags = BagEncoder(len(vocab), self.config, generator)
        self.item_bias = torch.nn.Parameter(torch.zeros(len(vocab)))
        if not self.config.tied:
            self.out_items = torch.nn.Parameter(
                torch.empty(len(vocab), self.bags.out_dim).uniform_(-self.config.init_scale, self.config.init_scale,
                                                                     generator=generator))

    def vocabs(self) -> dict[str, Vocab]:
        return {"items": self.vocab}

    def table_weights(self) -> dict[str, torch.Tensor]:
        return {"items": self.bags.bag.weight.data}

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    @classmethod
    def from_config(cls, config: dict[str, Any], vocabs: dict[str, Vocab]) -> "NextItemModel":
        return cls(vocabs["items"], config_from_dict(NextItemConfig, config))

    @property
    def output_table(self) -> torch.Tensor:
        return self.bags.bag.weight if self.config.tied else self.out_items

    def forward(self, starts: torch.Tensor, ids: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """Scores (n, n_items) of every item, or (n, k) of the given item ids ``items`` (n, k) or (k,)."""
        user = self.bags(starts, ids)
        if items is None:
            return user @ self.output_table.T + self.item_bias
        if items.dim() == 1:
            return user @ self.output_table[items].T + self.item_bias[items]
        return torch.einsum("nd,nkd->nk", user, self.output_table[items]) + self.item_bias[items]

    def score(self, histories: Bags, items: np.ndarray | None = None) -> np.ndarray:
        """Scores of every item (or of candidate ids ``items``, shape (n, k)) after each history."""
        self.eval()
        chunks = []
        with torch.no_grad():
            for s in range(0, len(histories), PREDICT_CHUNK):
                rows = np.arange(s, min(s + PREDICT_CHUNK, len(histories)))
                ids, starts = histories.take(rows).torch_inputs()
                chosen = None if items is None else torch.as_tensor(np.asarray(items)[rows], dtype=torch.int64)
                chunks.append(self(starts, ids, chosen).numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.vocab)), np.float32)

    def recommend(self, history: Sequence[str], topn: int = 10, *, exclude_history: bool = True
                  ) -> list[tuple[str, float]]:
        """The ``topn`` likeliest next items after ``history`` (item keys, oldest first) as (key, score)."""
        ids = self.vocab.encode(list(history)[-self.config.history:])
        if len(ids) == 0:
            raise InputError("history must name at least one item.", param="history")
        scores = self.score(Bags.from_lengths(ids, [len(ids)]))[0]
        if exclude_history:
            scores[self.vocab.encode(list(history))] = -np.inf
        top = np.argsort(-scores, kind="stable")[:topn]
        return [(self.vocab.keys[i], float(scores[i])) for i in top if np.isfinite(scores[i])]

    def evaluate(self, histories: Bags, targets: np.ndarray, candidates: np.ndarray, k: int = 10) -> dict[str, float]:
        """HR@k and NDCG@k of each target item ranked against its candidate items (n, c)."""
        scores = self.score(histories, np.concatenate([np.asarray(targets)[:, None], candidates], axis=1))
        ranks = ranks_of_targets(scores[:, 0], scores[:, 1:])
        return {f"hr@{k}": hit_rate(ranks, k), f"ndcg@{k}": ndcg(ranks, k)}

    @classmethod
    def for_data(cls, data: Interactions, config: NextItemConfig | None = None, *, seed: int = 0) -> "NextItemModel":
        """A model for the item vocabulary of the interactions ``data``."""
        return cls(cls._check_data(data).item_vocab, config, seed=seed)

    @staticmethod
    def _check_data(data: Any) -> Interactions:
        if not isinstance(data, Interactions):
            raise InputError(f"a next-item model trains on Interactions (see read_interactions). "
                             f"Got {type(data).__name__} instead.")
        return data

    def holdout_units(self, data: Interactions) -> tuple[int, str]:
        return self._check_data(data).n_users, "users"

    def hold_out(self, data: Interactions, held: np.ndarray) -> tuple[Interactions, tuple[Bags, np.ndarray]]:
        """The held users' last interactions are held out: (the rest, (their histories, their last items))."""
        rest, held_users, held_items = leave_last_out(data, users=held)
        return rest, (last_items(rest, self.config.history, users=held_users), held_items)

    def training_task(self, data: Interactions, validation: tuple[Bags, np.ndarray] | None, *, optimizer: str,
                      lr: float, rng: np.random.Generator) -> BagTask:
        """Every interaction after a user's first is a row: its last ``history`` items -> the item. The
        validation metric is the held-out items' full-catalogue HR@10 (``val_hr@10``)."""
        if len(self._check_data(data).item_vocab) != len(self.vocab):
            raise InputError("the interactions' item vocab does not match the model's item table.")
        validate, monitor = None, None
        if validation is not None:
            val_bags, held_items = validation

            def validate() -> dict[str, float]:
                scores = torch.from_numpy(self.score(val_bags))
                target = torch.from_numpy(held_items.astype(np.int64))
                ranks = ranks_of_targets(scores.gather(1, target[:, None])[:, 0].numpy(), scores.numpy())
                loss = F.cross_entropy(scores, target).item()
                return {"val_loss": loss, "val_hr@10": hit_rate(ranks, 10)}

            monitor = "val_hr@10"
        bags, target = history_windows(data, self.config.history)
        if len(target) == 0:
            raise InputError("no user has two interactions; next-item training needs histories.")
        n_items, cfg = len(self.vocab), self.config

        def loss_fn(model, starts, ids, target):
            if cfg.softmax == "full" or cfg.negatives >= n_items:
                return F.cross_entropy(model(starts, ids), target, reduction="sum")
            # sampled softmax with uniform negatives (their log q is constant, so it cancels)
            sampled = torch.randint(n_items, (cfg.negatives,))
            candidates = torch.cat([target[:, None], sampled.expand(len(target), -1)], dim=1)
            hit = candidates == target[:, None]
            hit[:, 0] = False                              # a sampled item equal to the target is no negative
            scores = model(starts, ids, candidates).masked_fill(hit, float("-inf"))
            return F.cross_entropy(scores, torch.zeros(len(target), dtype=torch.int64), reduction="sum")

        torch_optimizer = bag_optimizer(self, self.bags, optimizer, lr, sparse=not cfg.tied)
        return BagTask(self, bags, torch.from_numpy(target.astype(np.int64)), loss_fn, torch_optimizer,
                       validate=validate, monitor=monitor, monitor_mode="max", default_batch_size=256)
