"""New keys without retraining: grow a trained model's vocabularies, and fold new keys in from their links.

Fold-in solves only the new rows. The other table stays frozen; the new rows take training's own steps (the
pair kernel's gradients, the negative sampler, the model's score, loss and row optimizer) on their own
positives against sampled negatives, all new keys together: batch ``r`` of an epoch holds about the
``r``-th link of every key, so a key gets as many updates per epoch as it has links, as in training.
Growing a model keeps old rows (and their optimizer state) as they were and starts new rows as a fresh
model's would. A next-item model folds new items in from the histories they appear in, the same way: only
their rows move.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Sequence

import numba
import numpy as np
import pandas as pd
import torch

from ..data.negatives import NegativeSampler
from ..data.pairs import Pairs
from ..errors import InputError, check_positive_int
from ..vocab import Vocab
from . import pair_kernel as kernel
from .next_item import NextItemModel
from .pair import PARALLEL_MIN_SAMPLES, PairModel

__all__ = ["EXISTING", "SIDES", "FoldIn", "grow_vocab", "grow_pair_model", "fold_in_pairs", "place_rows",
           "grow_next_item_model"]

#: What fold-in does with a key the table already has: refuse the whole call, or refine its vector.
EXISTING = ("refuse", "refine")
SIDES = ("left", "right")
#: Most positives one fold-in step takes (the minibatch update's largest batch: fold-in takes its steps).
MAX_BATCH = 4096


@dataclass
class FoldIn:
    """What a fold-in did: the table it grew, keys added and refined, links used and links unknown, and keys
    placed by a side model from their features (cold start)."""

    table: str
    added: int
    refined: int
    links: int
    unknown_links: int
    epochs: int
    seconds: float
    from_features: int = 0

    def summary(self) -> str:
        unknown = f"; {self.unknown_links:,} unknown links skipped" if self.unknown_links else ""
        cold = f"; {self.from_features:,} more from their features (side model)" if self.from_features else ""
        return (f"folded {self.added:,} new keys into {self.table!r} (refined {self.refined:,}) from "
                f"{self.links:,} links{unknown}, {self.epochs} epochs in {self.seconds:.2f}s{cold}")


def grow_vocab(vocab: Vocab, keys: Sequence[str] | np.ndarray | pd.Series) -> Vocab:
    """``vocab`` with the ``keys`` it lacks appended in first-seen order (old ids unchanged); every key's
    count grows by its occurrences in ``keys``."""
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object).astype(str))
    seen = np.bincount(codes, minlength=len(uniques))
    ids = vocab.encode(uniques, unknown="ignore").astype(np.int64)
    fresh = ids < 0
    counts = vocab.counts.copy()
    np.add.at(counts, ids[~fresh], seen[~fresh])
    return Vocab(vocab.keys + [str(k) for k in uniques[fresh]], np.concatenate([counts, seen[fresh]]), name=vocab.name)


def grow_pair_model(model: PairModel, left_keys: Sequence[str] = (), right_keys: Sequence[str] = (), *,
                    seed: int = 0) -> PairModel:
    """A copy of ``model`` whose tables also hold ``left_keys`` and ``right_keys`` (one vocab when shared).

    Old rows keep their trained values and optimizer state; new rows start as a fresh model's (its random
    draw for ``seed``, a fresh optimizer state) and count as untrained until a fit trains them.
    """
    cfg = model.config
    if cfg.shared:
        left_vocab = right_vocab = grow_vocab(model.left_vocab, list(left_keys) + list(right_keys))
    else:
        left_vocab, right_vocab = grow_vocab(model.left_vocab, left_keys), grow_vocab(model.right_vocab, right_keys)
    grown = PairModel(left_vocab, right_vocab, replace(cfg), seed=seed)
    n_left, n_right = len(model.left_vocab), len(model.right_vocab)
    with torch.no_grad():
        grown.left.data[:n_left] = model.left.data
        if not cfg.shared:
            grown.right.data[:n_right] = model.right.data
    grown.untrained_left[:n_left] = model.untrained_left
    grown.history, grown.train_settings = getattr(model, "history", None), getattr(model, "train_settings", None)
    if model.optimizer_state is not None:
        for new, old in zip(grown.optimizer_states(model.optimizer_state["optimizer"]),
                            model.optimizer_state["tables"]):
            for part, array in old.items():
                target = new[part] if new[part].shape == array.shape else new[part][:len(array)]
                target[...] = array
    return grown


def _as_keys(values: Sequence[str] | np.ndarray | pd.Series) -> pd.Series:
    return pd.Series(values, dtype=object).astype(str).reset_index(drop=True)


def fold_in_pairs(model: PairModel, keys: Sequence[str] | np.ndarray | pd.Series,
                  links: Sequence[str] | np.ndarray | pd.Series, *, side: str = "left", existing: str = "refuse",
                  epochs: int | None = None, seed: int = 0) -> tuple[PairModel, FoldIn]:
    """Vectors for new ``keys`` of the ``side`` table from their ``links`` (keys of the other table, one per
    pair), the other table frozen. Returns (a grown copy of ``model``, what was done); ``model`` is unchanged.

    ``existing="refine"`` re-solves keys the table already has, starting from their trained vectors; the
    default refuses them. Links the model does not know are skipped and counted; a key left with no known
    link is refused (a side model can serve it from its features). ``epochs`` defaults to the epochs the
    model was trained for (at least 10).
    """
    if side not in SIDES:
        raise InputError(f"side must be one of {', '.join(SIDES)}. Got {side!r} instead.", param="side")
    if existing not in EXISTING:
        raise InputError(f"existing must be one of {', '.join(EXISTING)}. Got {existing!r} instead.", param="existing")
    if epochs is not None:
        check_positive_int("epochs", epochs)
    started = time.perf_counter()
    cfg = model.config
    keys, links = _as_keys(keys), _as_keys(links)
    if len(keys) != len(links) or len(keys) == 0:
        raise InputError(f"keys and links must be two equally long, non-empty lists (one pair each). "
                         f"Got {len(keys)} keys and {len(links)} links.")
    names = (cfg.left_name, cfg.right_name) if side == "left" else (cfg.right_name, cfg.left_name)
    own_vocab, other_vocab = (model.left_vocab, model.right_vocab) if side == "left" else (
        model.right_vocab, model.left_vocab)
    link_ids = other_vocab.encode(links, unknown="ignore")
    known = link_ids >= 0
    codes, uniques = pd.factorize(keys)
    if not known.any():
        raise InputError(f"none of the {len(links):,} links is a key of table {names[1]!r} "
                         f"({len(other_vocab):,} keys; the first is {links[0]!r}), so no key can be folded in.")
    linked = np.bincount(codes[known], minlength=len(uniques)) > 0
    if not linked.all():
        raise InputError(f"{uniques[~linked][0]!r} has no link that table {names[1]!r} knows ("
                         f"{(~linked).sum():,} of the {len(uniques):,} keys have none; {(~known).sum():,} of the "
                         f"{len(links):,} links are unknown): fold-in needs at least one known link; a side model "
                         f"(entembed side, then add --features FILE) can give such a key a vector from its features.")
    old_ids = own_vocab.encode(uniques, unknown="ignore")
    old = old_ids >= 0
    if old.any() and existing == "refuse":
        raise InputError(f"existing={existing!r}: {uniques[old][0]!r} is already a key of table {names[0]!r} "
                         f"({old.sum():,} of the {len(uniques):,} keys are); refine them with existing='refine', "
                         f"or leave them out.", param="existing")
    new_keys = [str(k) for k in uniques[~old]]
    grown = grow_pair_model(model, *((new_keys, ()) if side == "left" else ((), new_keys)), seed=seed)
    own = grown.left if side == "left" or cfg.shared else grown.right
    other = grown.right if side == "left" else grown.left
    own_vocab = grown.left_vocab if side == "left" else grown.right_vocab
    ids = own_vocab.encode(uniques).astype(np.int64)
    pairs = Pairs.from_ids(codes[known], link_ids[known], Vocab([str(k) for k in uniques], name=names[0]), other_vocab)
    rows = own.data.numpy()[ids].copy()
    settings = grown.train_settings
    optimizer, lr = settings.optimizer_for(grown) if settings is not None else (
        grown.DEFAULT_OPTIMIZER, grown.DEFAULT_LR[grown.DEFAULT_OPTIMIZER])
    if epochs is None:
        epochs = max(10, len(getattr(model.history, "epochs", None) or ()))
    state = _solve_rows(rows, other.data.numpy(), pairs, grown, optimizer, lr, epochs, seed)
    own.data.numpy()[ids] = rows
    if grown.optimizer_state is not None and grown.optimizer_state["optimizer"] == optimizer:
        table = grown.optimizer_state["tables"][0 if side == "left" or cfg.shared else 1]
        for part, array in state.items():
            if array.shape[0] == len(rows) and table[part].shape[0] == len(own_vocab):
                table[part][ids] = array
    if side == "left" or cfg.shared:
        grown.untrained_left[ids] = False
    grown.clear_tables()
    report = FoldIn(names[0], len(new_keys), int(old.sum()), len(pairs), int((~known).sum()), epochs,
                    time.perf_counter() - started)
    return grown, report


def place_rows(model: PairModel, keys: Sequence[str], vectors: np.ndarray, *, side: str = "left") -> PairModel:
    """A copy of ``model`` whose ``side`` table also holds the new ``keys`` with ``vectors`` as their rows (say,
    a side model's predictions for keys with no links); a key the table has is refused."""
    if side not in SIDES:
        raise InputError(f"side must be one of {', '.join(SIDES)}. Got {side!r} instead.", param="side")
    keys = [str(k) for k in keys]
    name, vocab = (model.config.left_name, model.left_vocab) if side == "left" else (
        model.config.right_name, model.right_vocab)
    old = vocab.encode(keys, unknown="ignore") >= 0
    if old.any():
        raise InputError(f"{keys[int(np.argmax(old))]!r} is already a key of table {name!r} ({old.sum():,} of the "
                         f"{len(keys):,} keys are): a side model places new keys only; leave them out.")
    if len(set(keys)) != len(keys) or np.shape(vectors) != (len(keys), model.config.dim):
        raise InputError(f"keys and vectors must be {len(keys)} distinct keys and as many rows of "
                         f"{model.config.dim} numbers. Got {len(set(keys))} distinct keys and shape "
                         f"{np.shape(vectors)}.")
    grown = grow_pair_model(model, *((keys, ()) if side == "left" else ((), keys)))
    own, own_vocab = (grown.left, grown.left_vocab) if side == "left" or model.config.shared else (
        grown.right, grown.right_vocab)
    ids = own_vocab.encode(keys).astype(np.int64)
    own.data.numpy()[ids] = vectors
    if side == "left" or model.config.shared:
        grown.untrained_left[ids] = False
    grown.clear_tables()
    return grown


def _solve_rows(rows: np.ndarray, other: np.ndarray, pairs: Pairs, model: PairModel, optimizer: str, lr: float,
                epochs: int, seed: int) -> dict[str, np.ndarray]:
    """Train ``rows`` (one per left id of ``pairs``) in place against the frozen ``other`` table with the
    model's score, loss, negatives and row optimizer; returns the rows' optimizer state."""
    cfg = model.config
    rng = np.random.default_rng(seed)
    sampler = NegativeSampler(pairs, ratio=cfg.negatives, distribution=cfg.sampling, counts=pairs.right_vocab.counts)
    state = kernel.optimizer_state(optimizer, rows.shape)
    accum, touched = np.zeros_like(rows), np.zeros(len(rows), np.uint8)
    per_batch = int(np.clip(len(rows), 1, MAX_BATCH))
    samples = per_batch * (1 + cfg.negatives)
    threads = numba.get_num_threads() if samples >= PARALLEL_MIN_SAMPLES else 1
    grad_l, grad_r = np.empty((samples, rows.shape[1]), np.float32), np.empty((samples, rows.shape[1]), np.float32)
    rows_l, rows_r = np.empty(samples, np.int32), np.empty(samples, np.int32)
    losses, order = np.empty(per_batch, np.float64), np.empty(threads * samples, np.int32)
    no_weight = np.zeros(0, np.float32)
    hyper, loss_code = kernel.optimizer_hyper(optimizer), kernel.LOSS_CODES[cfg.loss]
    cosine, label_neg, opt_code = cfg.score == "cosine", kernel.negative_label(cfg.loss), kernel.OPTIMIZERS[optimizer]
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        for _ in range(epochs):
            left, right = _by_link_rank(pairs, rng)
            negatives = sampler.sample(left, rng.integers(2**62))
            for start in range(0, len(left), per_batch):
                stop = min(start + per_batch, len(left))
                m = (stop - start) * (1 + cfg.negatives)
                kernel.pair_gradients(rows, other, left[start:stop], right[start:stop], negatives[start:stop],
                                      no_weight, loss_code, cosine, label_neg, grad_l[:m], grad_r[:m], rows_l[:m],
                                      rows_r[:m], losses[:stop - start])
                kernel.apply_row_gradients(rows, rows_l[:m], grad_l[:m], opt_code, lr, hyper, state["state1"],
                                           state["state2"], state["row_steps"], accum, touched, order[:threads * m])
    finally:
        numba.set_num_threads(before)
    return state


def _by_link_rank(pairs: Pairs, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The pairs shuffled, then ordered by each pair's rank among its key's pairs (then by key): consecutive
    batches hold about one link of every key."""
    shuffled = rng.permutation(len(pairs))
    left = pairs.left[shuffled]
    by_key = np.argsort(left, kind="stable")
    first = np.searchsorted(left[by_key], left[by_key], side="left")
    rank = np.empty(len(left), np.int64)
    rank[by_key] = np.arange(len(left)) - first
    order = shuffled[np.lexsort((left, rank))]
    return pairs.left[order], pairs.right[order]


def grow_next_item_model(model: NextItemModel, keys: Sequence[str], *, seed: int = 0) -> NextItemModel:
    """A copy of ``model`` whose item table also holds ``keys``: old rows, biases and layers as trained, new
    rows as a fresh model's."""
    vocab = grow_vocab(model.vocab, keys)
    grown = NextItemModel(vocab, replace(model.config), seed=seed)
    n_old = len(model.vocab)
    state = grown.state_dict()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            target = state[name]
            (target if target.shape == tensor.shape else target[:n_old]).copy_(tensor)
    grown.history, grown.train_settings = getattr(model, "history", None), getattr(model, "train_settings", None)
    return grown

