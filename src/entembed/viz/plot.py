"""Static pictures (PNG, SVG or PDF by the output's suffix) drawn with matplotlib's object API (no pyplot, no
global state): a map coloured by a metadata column, queries and their neighbours on the map, training
curves from history.json, and the token study's two pictures. Each is written atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, MissingExtraError
from ..train import History

__all__ = ["SUFFIXES", "OTHER", "Highlight", "colour_groups", "check_picture_path", "plot_map",
           "plot_history", "plot_token_study"]

SUFFIXES = (".png", ".svg", ".pdf")
OTHER = "other"  # the group of values outside the top N, and of missing values
#: Group colours (tab10, then tab20's light shades) and the highlight colours: saturated, kept apart from them.
_GROUP_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
                  "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
                  "#393b79", "#637939", "#8c6d31", "#843c39"]
_OTHER_COLOUR = "#c8c8c8"
_HIGHLIGHT_COLOURS = ["#ff0000", "#0000ff", "#00c000", "#ff00ff", "#ff8000", "#00c0c0", "#800000", "#000080"]


@dataclass
class Highlight:
    """A query key and its neighbours (ids in the table, found in the full space) to draw on the map."""

    key: str
    query: int
    neighbours: np.ndarray


def _figure(size: tuple[float, float] = (9, 8)):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("pictures", "viz", "matplotlib") from None
    return Figure(figsize=size, dpi=100, layout="constrained")


def check_picture_path(output: str | os.PathLike) -> Path:
    """A picture path with a known suffix in an existing folder (checked before anything is computed)."""
    output = Path(output)
    if output.suffix.lower() not in SUFFIXES:
        raise InputError(f"{output}: unknown picture type {output.suffix!r}; expected one of {', '.join(SUFFIXES)}.")
    if not output.absolute().parent.is_dir():
        raise InputError(f"{output}: the folder {output.absolute().parent} does not exist; create it first.")
    return output


def _save(figure, output: str | os.PathLike) -> Path:
    output = check_picture_path(output)
    temporary = output.with_name(f".partial-{os.getpid()}-{output.name}")
    try:
        figure.savefig(temporary, format=output.suffix[1:].lower())
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
    return output


def colour_groups(values: pd.Series, top: int = 10) -> tuple[np.ndarray, list[str]]:
    """Each point's group: its value if among the ``top`` most common, else "other" (missing values too).
    Returns the group of each point and the groups in legend order (most common first, "other" last)."""
    if not 1 <= top <= len(_GROUP_COLOURS):
        raise InputError(f"top must be between 1 and {len(_GROUP_COLOURS)}. Got {top!r} instead.")
    text = values.astype(object).where(values.notna(), None)
    counts = text.dropna().astype(str).value_counts(sort=True)
    kept = counts.index[:top].tolist()
    groups = text.astype(str).where(text.notna(), OTHER).to_numpy(dtype=object)
    groups[~np.isin(groups, kept)] = OTHER
    return groups, kept + ([OTHER] if (groups == OTHER).any() else [])


def _point_size(n: int) -> float:
    return float(np.clip(60_000 / max(n, 1), 0.5, 25.0))


def plot_map(coordinates: np.ndarray, keys: Sequence[str], output: str | os.PathLike, *,
             colour_by: pd.Series | None = None, top: int = 10, labels: Sequence[int] = (),
             highlights: Sequence[Highlight] = (), title: str = "") -> Path:
    """Draw the 2-D ``coordinates`` of ``keys``: coloured by ``colour_by`` (its ``top`` values + "other",
    with a legend), ``labels`` (ids) written beside their points, each of ``highlights`` (a query and its
    neighbours) in its own colour on top. Any number of points (rasterised in SVG/PDF above 5,000)."""
    coordinates = np.asarray(coordinates)
    figure = _figure()
    axes = figure.add_subplot()
    size, rasterized = _point_size(len(coordinates)), len(coordinates) > 5_000
    fade = 0.35 if highlights else 0.8
    if colour_by is not None:
        groups, order = colour_groups(colour_by, top)
        for position, group in enumerate(order):
            mask = groups == group
            colour = _OTHER_COLOUR if group == OTHER else _GROUP_COLOURS[position]
            axes.scatter(*coordinates[mask].T, s=size, c=colour, alpha=fade, linewidths=0, rasterized=rasterized,
                         label=f"{group} ({mask.sum():,})", zorder=1 if group == OTHER else 2)
        legend = axes.legend(title=colour_by.name, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                             markerscale=max(1.0, 6 / size ** 0.5), fontsize="small", frameon=False)
        for handle in legend.legend_handles:
            handle.set_alpha(1.0)
    else:
        axes.scatter(*coordinates.T, s=size, c="#7f7f7f" if not highlights else _OTHER_COLOUR, alpha=fade,
                     linewidths=0, rasterized=rasterized)
    if len(highlights) > len(_HIGHLIGHT_COLOURS):
        raise InputError(f"at most {len(_HIGHLIGHT_COLOURS)} queries can be highlighted on one map. "
                         f"Got {len(highlights)}.")
    for highlight, colour in zip(highlights, _HIGHLIGHT_COLOURS):
        axes.scatter(*coordinates[highlight.neighbours].T, s=40, c=colour, edgecolors="black", linewidths=0.5,
                     zorder=4, label=f"neighbours of {highlight.key}")
        axes.scatter(*coordinates[[highlight.query]].T, s=220, c=colour, marker="*", edgecolors="black",
                     linewidths=0.8, zorder=5)
        axes.annotate(highlight.key, coordinates[highlight.query], xytext=(6, 6), textcoords="offset points",
                      fontsize="small", fontweight="bold", zorder=6)
    for key_id in labels:
        axes.annotate(str(keys[key_id]), coordinates[key_id], xytext=(3, 3), textcoords="offset points",
                      fontsize="x-small", zorder=3)
    axes.set_title(title)
    axes.set_xticks([])
    axes.set_yticks([])
    return _save(figure, output)


def plot_history(history: History, output: str | os.PathLike, *, title: str = "") -> Path:
    """Training curves from a model's History: loss by epoch, and each validation metric beside it."""
    if not history.epochs:
        raise InputError("the model has no training history (history.json lists no epochs); nothing to draw.")
    metrics = sorted({name for row in history.epochs for name in row if name.startswith("val_")})
    figure = _figure((6 + 4 * bool(metrics), 4))
    panels = figure.subplots(1, 1 + bool(metrics), squeeze=False)[0]
    epochs = np.arange(1, len(history.epochs) + 1)
    panels[0].plot(epochs, history.column("loss"), marker="o", markersize=3, label="training loss")
    panels[0].set(xlabel="epoch", ylabel="loss (mean per sample)", title=title or "training loss")
    for name in metrics:
        rows = [(epoch, row[name]) for epoch, row in zip(epochs, history.epochs) if name in row]
        panels[1].plot(*zip(*rows), marker="o", markersize=3, label=name[4:].replace("_", " "))
    if metrics:
        panels[1].set(xlabel="epoch", title="validation")
        panels[1].legend(frameon=False)
    if history.best_epoch:
        for panel in panels:
            panel.axvline(history.best_epoch, color="grey", linestyle="--", linewidth=0.8)
    return _save(figure, output)


def plot_token_study(tokens: Sequence[str], outcomes: Sequence[np.ndarray], effects: np.ndarray,
                     vectors: np.ndarray, output: str | os.PathLike) -> Path:
    """The token study's pictures: the outcome of each token (box plot, planted effect marked) and each
    token's learned embedding projected to 2-D by PCA, labelled with its effect."""
    from .reduce import reduce

    figure = _figure((11, 4.5))
    left, right = figure.subplots(1, 2)
    left.boxplot(list(outcomes), showfliers=False)
    left.set_xticks(np.arange(1, len(tokens) + 1), list(tokens))
    left.scatter(np.arange(1, len(tokens) + 1), effects, marker="D", c="#ff0000", zorder=3, label="planted effect")
    left.set(ylabel="outcome y", title="outcome by token")
    left.legend(frameon=False)
    points = reduce(vectors, "pca", metric="euclidean")
    scatter = right.scatter(*points.T, c=effects, cmap="coolwarm", s=120, edgecolors="black")
    for token, effect, point in zip(tokens, effects, points):
        right.annotate(f"{token} ({effect:+.0f})", point, xytext=(6, 6), textcoords="offset points", fontsize="small")
    right.set(title=f"{vectors.shape[1]}-D token embeddings, PCA to 2-D", xlabel="PC 1", ylabel="PC 2")
    figure.colorbar(scatter, ax=right, label="planted effect")
    return _save(figure, output)
