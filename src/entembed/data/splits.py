"""Train/test splits for evaluating recommenders: random pair hold-out, k-fold, and leave-last-out by time.

Every split returns a ``Split``: the training part, the held-out (left, right) pairs, and a count of what it
could not hold out and why. The rules, one for all splits:

- a held-out pair whose left or right key would have no training pair left goes back to training (a key
  the model never trained cannot be ranked), and is counted;
- a held-out pair that is also a training pair (a repeated pair, or an item a user had already met) is
  dropped from the test and counted, so train and test never overlap;
- leave-last-out holds out each user's latest interaction; ties in time are broken by the input's row
  order (the later row is the later interaction). Users with one interaction keep it and are counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, check_fraction, check_positive_int
from .pairs import Pairs, sorted_unique
from .sequences import Interactions, leave_last_out, sample_unseen

__all__ = ["Split", "random_split", "kfold_splits", "leave_last_out_split", "as_pairs", "as_interactions",
           "sample_negatives"]


@dataclass
class Split:
    """A training part (Pairs, or Interactions for leave-last-out), the held-out pairs (ids in the same
    vocabs) and ``left_out``: reason -> how many pairs or users the split could not hold out."""

    train: Pairs | Interactions
    test: Pairs
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def train_pairs(self) -> Pairs:
        """The training part as (left, right) pairs."""
        return self.train if isinstance(self.train, Pairs) else as_pairs(self.train)

    def __repr__(self) -> str:
        return f"Split(train={self.train!r}, test={len(self.test)} pairs, left_out={self.left_out})"

    def summary(self) -> str:
        """One line: what is held out and what was left out, and why."""
        left_out = "; ".join(f"{count:,} {reason}" for reason, count in self.left_out.items() if count)
        return (f"{len(self.train):,} training rows, {len(self.test):,} held-out pairs"
                f"{'; left out: ' + left_out if left_out else ''}")


def as_pairs(data: Interactions) -> Pairs:
    """(user, item) pairs of interactions, each once (users on the left, items on the right)."""
    return Pairs.from_ids(data.users, data.items, data.user_vocab, data.item_vocab)


def as_interactions(pairs: Pairs) -> Interactions:
    """Pairs as interactions sorted by left key (all at time 0), for per-user tools such as sampling."""
    order = np.argsort(pairs.left, kind="stable")
    return Interactions(pairs.left[order], pairs.right[order], np.zeros(len(pairs)), pairs.left_vocab,
                        pairs.right_vocab)


def sample_negatives(known: Pairs, left: np.ndarray, n: int = 99, *, seed: int = 0) -> np.ndarray:
    """(len(left), n) distinct right ids, uniformly drawn, none paired with its left id in ``known`` (give
    every known positive, training and held-out: the sampled protocol never samples a positive)."""
    return sample_unseen(as_interactions(known), left, n, seed=seed)


def _pair_keys(pairs: Pairs, rows: np.ndarray) -> np.ndarray:
    return pairs.left[rows].astype(np.int64) * len(pairs.right_vocab) + pairs.right[rows]


def _hold_out(pairs: Pairs, held: np.ndarray) -> Split:
    """Split ``pairs`` on the boolean mask ``held`` by the module's rules."""
    kept = ~held
    left_count = np.bincount(pairs.left[kept], minlength=len(pairs.left_vocab))
    right_count = np.bincount(pairs.right[kept], minlength=len(pairs.right_vocab))
    cold_left = held & (left_count[pairs.left] == 0)
    cold_right = held & ~cold_left & (right_count[pairs.right] == 0)
    held = held & ~cold_left & ~cold_right
    train_rows, test_rows = np.flatnonzero(~held), np.flatnonzero(held)
    repeated = np.isin(_pair_keys(pairs, test_rows), sorted_unique(_pair_keys(pairs, train_rows)))
    test_rows = test_rows[~repeated]
    left_out = {"pairs kept in training: their left key had no other pair": int(cold_left.sum()),
                "pairs kept in training: their right key had no other pair": int(cold_right.sum()),
                "held-out pairs dropped: also a training pair": int(repeated.sum())}
    if len(test_rows) == 0:
        raise InputError("the split holds nothing out: every held-out pair was needed in training "
                         f"({sum(left_out.values())} pairs; {', '.join(f'{v} {k}' for k, v in left_out.items() if v)}).")
    return Split(pairs.subset(train_rows), pairs.subset(test_rows), left_out)


def random_split(pairs: Pairs, share: float = 0.2, *, seed: int = 0) -> Split:
    """Hold out a random ``share`` of the pairs (reproducible for a seed)."""
    check_fraction("share", share, allow_zero=False)
    held = np.random.default_rng(seed).random(len(pairs)) < share
    return _hold_out(pairs, held)


def kfold_splits(pairs: Pairs, k: int = 5, *, seed: int = 0) -> list[Split]:
    """``k`` splits whose held-out parts are disjoint and together cover the pairs (less what the rules
    keep in training), each pair assigned to one fold at random."""
    check_positive_int("k", k)
    if k < 2:
        raise InputError(f"k must be at least 2 for k-fold. Got {k} instead.", param="k")
    fold = np.random.default_rng(seed).permutation(len(pairs)) % k
    return [_hold_out(pairs, fold == f) for f in range(k)]


def leave_last_out_split(data: Interactions) -> Split:
    """Hold out each user's latest interaction (ties: the later input row); the training part stays
    Interactions, so histories are still in time order."""
    short = int((data.counts < 2).sum())
    train, users, items = leave_last_out(data)
    if len(users) == 0:
        raise InputError(f"leave-last-out needs users with at least 2 interactions; all {data.n_users} users "
                         "have 1, so every user would be left with no training rows.")
    train_keys = sorted_unique(train.users.astype(np.int64) * len(data.item_vocab) + train.items)
    repeated = np.isin(users.astype(np.int64) * len(data.item_vocab) + items, train_keys)
    unseen_item = ~repeated & (np.bincount(train.items, minlength=len(data.item_vocab))[items] == 0)
    keep = ~repeated & ~unseen_item
    left_out = {"users with one interaction (nothing to hold out)": short,
                "held-out items dropped: the user had met the item before": int(repeated.sum()),
                "held-out items dropped: the item has no training interaction": int(unseen_item.sum())}
    if not keep.any():
        raise InputError("the split holds nothing out: every user's last item was dropped "
                         f"({', '.join(f'{v} {k}' for k, v in left_out.items() if v)}).")
    test = Pairs(users[keep].astype(np.int32), items[keep].astype(np.int32), data.user_vocab, data.item_vocab)
    return Split(train, test, left_out)
