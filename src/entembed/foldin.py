"""New keys for trained models, at the level of files and folders: fold new keys into a saved pair model
(``add_to_folder``, the CLI's ``entembed add``), or place keys with no links from their features by the
folder's side model (``add_from_features``, ``cold_start_key``; see ``coldstart``), train a model further on
new pairs that may name new keys (``train_more``, ``entembed train pairs --resume``), and fold new items into
a next-item model from the histories they appear in (``fold_in_items``, ``add_items_to_folder``).

A saved model is only replaced once the new one is complete (``save_model`` writes a temporary folder
and renames it), and every check runs before that: a refused call leaves the folder as it was.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from time import perf_counter
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from .coldstart import SIDE_FILE, load_side_model, side_vectors
from .data.files import as_frame, read_table
from .data.pairs import Pairs
from .data.sequences import Interactions, read_interactions
from .errors import EntembedError, InputError
from .models.foldin import SIDES, FoldIn, fold_in_pairs, grow_next_item_model, grow_pair_model, place_rows
from .models.next_item import NextItemModel
from .models.pair import PairModel
from .storage import OPTIMIZER_FILE, load, save_model
from .train import History, Trainer, TrainSettings

__all__ = ["add_to_folder", "add_from_features", "add_items_to_folder", "cold_start_key", "fold_in_key", "train_more",
           "fold_in_items", "attachments_of", "SAVED_FILES"]

#: Files save_model writes itself; any other top-level file of a folder is an attachment, carried over.
SAVED_FILES = ("config.json", "weights.safetensors", "history.json", OPTIMIZER_FILE)


def _pair_model(model: Any, folder: str | os.PathLike, what: str) -> PairModel:
    if not isinstance(model, PairModel):
        items = " (a next-item model takes new items from histories: --user, --item, --time)" if isinstance(
            model, NextItemModel) and what == "entembed add" else ""
        raise EntembedError(f"{folder}: a {model.kind!r} model; {what} works on pair models "
                            f"(entembed train pairs / train books){items}.")
    return model


def attachments_of(folder: Path, *, side_models: bool = False) -> dict[str, str | Path]:
    """The text files of a model folder that ``save_model`` does not write itself (e.g. books-info.csv), and
    with ``side_models`` its side models (their vectors' space is unchanged when keys are only added); other
    sub-folders (cached maps, indexes) are left behind, since they no longer match the grown tables."""
    found: dict[str, str | Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name not in SAVED_FILES and not (
                path.name.startswith("vocab-") and path.name.endswith(".json")):
            found[path.name] = path.read_text(encoding="utf-8")
        elif side_models and path.is_dir() and (path / SIDE_FILE).is_file():
            found[path.name] = path
    return found


def add_to_folder(folder: str | os.PathLike, source: str | os.PathLike | pd.DataFrame, *, left: str, right: str,
                  side: str = "left", existing: str = "refuse", output: str | os.PathLike | None = None,
                  epochs: int | None = None, seed: int = 0,
                  features: str | os.PathLike | pd.DataFrame | None = None) -> tuple[Path, FoldIn]:
    """Fold the new keys of column ``left`` (``side="left"``) or ``right`` of ``source`` into the pair model
    saved in ``folder``, from their pairs; save the grown model to ``output`` (default: ``folder`` itself,
    replaced atomically). With ``features``, keys none of whose links the model knows get their vector from
    the folder's side model instead of being refused. Returns (the folder written, what was done)."""
    folder = Path(folder)
    model = _pair_model(load(folder), folder, "entembed add")
    if side not in SIDES:
        raise InputError(f"side must be one of {', '.join(SIDES)}. Got {side!r} instead.", param="side")
    origin = str(source) if not isinstance(source, pd.DataFrame) else "input"
    frame = source if isinstance(source, pd.DataFrame) else read_table(source, columns=[left, right])
    for column in (left, right):
        if column not in frame.columns:
            raise InputError(f"{origin}: no column {column!r}; the columns are "
                             f"{', '.join(repr(str(c)) for c in frame.columns)}.")
        empty = frame[column].isna().to_numpy()
        if empty.any():
            raise InputError(f"{origin}: column {column!r} is empty in row {int(np.argmax(empty)) + 1} "
                             "(a pair needs both keys).")
    keys, links = (frame[left], frame[right]) if side == "left" else (frame[right], frame[left])
    keys, links = keys.astype(str).to_numpy(dtype=object), links.astype(str).to_numpy(dtype=object)
    linkless: list[str] = []
    if features is not None:
        other = model.right_vocab if side == "left" else model.left_vocab
        known = other.encode(links, unknown="ignore") >= 0
        served = ~np.isin(keys, keys[known])
        linkless = list(pd.unique(keys[served]))
        if linkless:
            table = model.config.left_name if side == "left" else model.config.right_name
            side_model, key = load_side_model(folder, table)
            model = place_rows(model, linkless, side_vectors(side_model, key, features, linkless), side=side)
        keys, links = keys[~served], links[~served]
    if len(keys):
        grown, report = fold_in_pairs(model, keys, links, side=side, existing=existing, epochs=epochs, seed=seed)
    else:
        grown, report = model, FoldIn(model.config.left_name if side == "left" else model.config.right_name,
                                      0, 0, 0, 0, 0, 0.0)
    report.from_features = len(linkless)
    report.unknown_links += int(served.sum()) if linkless else 0
    target = Path(output) if output is not None else folder
    save_model(grown, target, attachments=attachments_of(folder, side_models=True))
    return target, report


def _table_side(model: PairModel, table: str | None) -> tuple[str, str]:
    """(the table, "left" or "right") for ``table`` (default: the left table) of a pair model."""
    cfg = model.config
    table = table or cfg.left_name
    if table not in (cfg.left_name, cfg.right_name):
        raise InputError(f"table must be {cfg.left_name!r} or {cfg.right_name!r}. Got {table!r} instead.",
                         param="table")
    return table, "left" if table == cfg.left_name else "right"


def add_from_features(folder: str | os.PathLike, features: str | os.PathLike | pd.DataFrame, *,
                      table: str | None = None, output: str | os.PathLike | None = None) -> tuple[Path, FoldIn]:
    """Cold start: add every key of ``features`` (one row a new key, in the key column of the folder's side
    model of ``table``) to the pair model saved in ``folder``, with the vector the side model predicts from its
    features; save to ``output`` (default: ``folder``, replaced atomically). Keys the table has are refused."""
    folder = Path(folder)
    started = perf_counter()
    model = _pair_model(load(folder), folder, "entembed add")
    table, side = _table_side(model, table)
    side_model, key = load_side_model(folder, table)
    frame, _ = as_frame(features, [key])
    keys = frame[key].astype(str).tolist()
    grown = place_rows(model, keys, side_vectors(side_model, key, frame, keys), side=side)
    target = Path(output) if output is not None else folder
    save_model(grown, target, attachments=attachments_of(folder, side_models=True))
    return target, FoldIn(table, 0, 0, 0, 0, 0, perf_counter() - started, from_features=len(keys))


def cold_start_key(model: PairModel, key: str, features: str | os.PathLike | pd.DataFrame, *,
                   table: str | None = None) -> PairModel:
    """A copy of ``model`` (loaded from a folder) that also knows ``key`` of ``table`` (default: the left one),
    placed by the folder's side model from its row of ``features``. Not saved."""
    model = _pair_model(model, getattr(model, "folder", "model"), "cold start")
    table, side = _table_side(model, table)
    if getattr(model, "folder", None) is None:
        raise EntembedError("cold start needs a model loaded from its folder (the side model is saved there).")
    side_model, column = load_side_model(model.folder, table)
    return place_rows(model, [key], side_vectors(side_model, column, features, [key]), side=side)


def add_items_to_folder(folder: str | os.PathLike, source: str | os.PathLike | pd.DataFrame, *, user: str, item: str,
                        time: str, output: str | os.PathLike | None = None, epochs: int | None = None,
                        seed: int = 0) -> tuple[Path, int]:
    """Fold the new items of the histories in ``source`` (columns ``user``, ``item``, ``time``) into the
    next-item model saved in ``folder`` (``fold_in_items``); save to ``output`` (default: ``folder``,
    replaced atomically). Returns (the folder written, the number of items added)."""
    folder = Path(folder)
    model = load(folder)
    if not isinstance(model, NextItemModel):
        raise EntembedError(f"{folder}: a {model.kind!r} model; folding items in from histories (--user, --item, "
                            "--time) works on next-item models (entembed train sequence).")
    data = read_interactions(source, user=user, item=item, time=time)
    saved = model.train_settings or TrainSettings()
    settings = replace(saved, quiet=True, seed=seed, epochs=epochs if epochs is not None else saved.epochs)
    grown, added = fold_in_items(model, data, settings)
    target = Path(output) if output is not None else folder
    save_model(grown, target, attachments=attachments_of(folder))
    return target, added


def fold_in_key(model: PairModel, key: str, links: Sequence[str], *, table: str | None = None,
                seed: int = 0) -> tuple[PairModel, FoldIn]:
    """A copy of ``model`` that also knows ``key`` of ``table`` (default: the left one), folded in from its
    ``links`` (keys of the other table); a key the table has is refined from them instead. Not saved."""
    model = _pair_model(model, "model", "fold-in")
    table, side = _table_side(model, table)
    links = [str(link) for link in links]
    if not links:
        raise InputError(f"links must name at least one key of the other table to fold {key!r} in from.",
                         param="links")
    return fold_in_pairs(model, [key] * len(links), links, side=side, existing="refine", seed=seed)


def train_more(model: PairModel, pairs: Pairs, settings: TrainSettings | None = None) -> PairModel:
    """Incremental training: ``model`` trained further on ``pairs`` (read with their own vocabs), which may
    name keys it lacks. Its vocabularies grow; old rows start from their trained values with the optimizer
    state saved with them; new rows start as a fresh model's. With no optimizer or learning rate in
    ``settings``, the ones the model was trained with are used (so the saved state applies). Returns a
    grown copy; ``model`` is unchanged. Its history is the old epochs followed by the new ones."""
    model = _pair_model(model, "model", "resuming training")
    if model.config.shared != (pairs.left_vocab is pairs.right_vocab):
        raise InputError("the pairs and the model disagree on --shared: read the pairs with shared_vocab="
                         f"{model.config.shared}.")
    saved = model.train_settings or TrainSettings()
    settings = settings or TrainSettings()
    if settings.optimizer is None:
        kept = model.optimizer_state["optimizer"] if model.optimizer_state else saved.optimizer
        settings = replace(settings, optimizer=kept, lr=settings.lr if settings.lr is not None else saved.lr)
    left_keys = np.asarray(pairs.left_vocab.keys, dtype=object)[pairs.left]
    right_keys = np.asarray(pairs.right_vocab.keys, dtype=object)[pairs.right]
    grown = grow_pair_model(model, left_keys, right_keys, seed=settings.seed)
    data = Pairs(grown.left_vocab.encode(left_keys), grown.right_vocab.encode(right_keys), grown.left_vocab,
                 grown.right_vocab, pairs.weight)
    before = list(getattr(model.history, "epochs", None) or [])
    Trainer(settings).fit(grown, data)
    grown.history = _joined(before, grown.history)
    return grown


def _joined(before: list[dict], after: History) -> History:
    """One history: the earlier fit's epochs, then the new fit's (numbered on)."""
    epochs = before + [{**row, "epoch": len(before) + row["epoch"]} for row in after.epochs]
    best = None if after.best_epoch is None else len(before) + after.best_epoch
    return History(epochs=epochs, best_epoch=best, stopped_early=after.stopped_early)


def fold_in_items(model: NextItemModel, data: Interactions, settings: TrainSettings | None = None
                  ) -> tuple[NextItemModel, int]:
    """Vectors for the items of ``data`` that ``model`` lacks, from the histories they appear in: the model's
    own loss and optimizer on those users' histories, with every old row, bias and layer frozen. Returns
    (a grown copy, the number of items added); ``model`` is unchanged."""
    if not isinstance(model, NextItemModel):
        raise EntembedError(f"a {model.kind!r} model; folding items in works on next-item models.")
    fresh = model.vocab.encode(data.item_vocab.keys, unknown="ignore") < 0
    if not fresh.any():
        raise InputError(f"no new item: all {len(data.item_vocab):,} items of the histories are in the model.")
    new_keys = [k for k, f in zip(data.item_vocab.keys, fresh) if f]
    settings = settings or model.train_settings or TrainSettings()
    settings = replace(settings, validation=0.0, patience=None)
    grown = grow_next_item_model(model, new_keys, seed=settings.seed)
    items = grown.vocab.encode(data.item_vocab.keys)[data.items]
    users_with_new = np.unique(data.users[items >= len(model.vocab)])
    rows = np.flatnonzero(np.isin(data.users, users_with_new))
    local = Interactions(data.users[rows], items[rows], data.times[rows], data.user_vocab, grown.vocab)
    n_old = len(model.vocab)
    movable = [grown.bags.bag.weight, grown.item_bias, *([] if grown.config.tied else [grown.out_items])]
    frozen = [p for p in grown.parameters() if all(p is not m for m in movable) and p.requires_grad]
    hooks = [p.register_hook(lambda grad: _new_rows_only(grad, n_old)) for p in movable]
    for parameter in frozen:
        parameter.requires_grad_(False)
    history = grown.history
    try:
        Trainer(settings).fit(grown, local)
    finally:
        for hook in hooks:
            hook.remove()
        for parameter in frozen:
            parameter.requires_grad_(True)
    grown.history, grown.train_settings = history, model.train_settings
    return grown, len(new_keys)


def _new_rows_only(grad: torch.Tensor, n_old: int) -> torch.Tensor:
    """``grad`` with the rows of the first ``n_old`` items zeroed (dense or sparse)."""
    if grad.is_sparse:
        grad = grad.coalesce()
        keep = grad.indices()[0] >= n_old
        return torch.sparse_coo_tensor(grad.indices()[:, keep], grad.values()[keep], grad.shape)
    grad = grad.clone()
    grad[:n_old] = 0
    return grad
