"""MovieLens-100K as one table per split: rating plus user, item, occupation, gender, age and genre flags."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
CATEGORICAL = ["user", "item", "occupation", "gender"]
NUMERIC = ["age"] + [f"genre_{g}" for g in GENRES]


def ratings(path: Path) -> pd.DataFrame:
    """A u.data-format file joined with the user and item attributes."""
    frame = pd.read_csv(path, sep="\t", names=["user", "item", "rating", "time"])
    users = pd.read_csv(DATA / "u.user", sep="|", names=["user", "age", "gender", "occupation", "zip"])
    items = pd.read_csv(DATA / "u.item", sep="|", encoding="latin-1", header=None,
                        names=["item", "title", "date", "video", "url"] + [f"genre_{g}" for g in GENRES])
    frame = frame.merge(users[["user", "age", "gender", "occupation"]], on="user", how="left")
    frame = frame.merge(items[["item", "title"] + [f"genre_{g}" for g in GENRES]], on="item", how="left")
    return frame


def split(k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The official u<k>.base / u<k>.test split (k = 1..5)."""
    return ratings(DATA / "splits" / f"u{k}.base"), ratings(DATA / "splits" / f"u{k}.test")
