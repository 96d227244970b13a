"""Request and answer bodies of the HTTP API (pydantic), with the bounds every request must respect."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["MAX_K", "MAX_BATCH", "MAX_KEY_CHARS", "Key", "MAX_HISTORY", "MAX_AMONG", "MAX_LIMIT", "MAX_BODY_BYTES",
           "Metric", "Neighbor",
           "Neighbors", "NeighborsBatch", "NeighborsRequest", "RecommendRequest", "Blend", "Recommendation", "Entity",
           "Entities", "Similarity", "Vector", "TableInfo", "ModelInfo", "Models", "Health", "MapData", "Colors",
           "Problem"]

MAX_K = 1000            # neighbours per query
MAX_BATCH = 256         # keys in one batch neighbours request
MAX_HISTORY = 1000      # keys in a recommendation history
MAX_AMONG = 100_000     # candidate keys a recommendation may be restricted to
MAX_LIMIT = 100         # autocomplete suggestions
MAX_BODY_BYTES = 4 << 20  # request bodies larger than this are refused (413) before they are parsed
MAX_KEY_CHARS = 1000    # characters in one key

Metric = Literal["cosine", "dot", "euclidean"]
Key = Annotated[str, Field(max_length=MAX_KEY_CHARS)]
Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Neighbor(BaseModel):
    key: str
    id: int = Field(description="Row of the key in its table (its position on the map).")
    score: float = Field(description="Cosine similarity or dot product (higher is closer), or euclidean distance.")


class Neighbors(BaseModel):
    key: str
    id: int
    metric: Metric
    neighbors: list[Neighbor]


class NeighborsRequest(Strict):
    keys: list[Key] = Field(min_length=1, max_length=MAX_BATCH, description="Keys to find neighbours of.")
    k: int = Field(10, ge=1, le=MAX_K)
    metric: Metric = "cosine"


class NeighborsBatch(BaseModel):
    metric: Metric
    results: list[Neighbors]


class RecommendRequest(Strict):
    table: Optional[str] = Field(None, description="Table to recommend from (default: the first table; for a "
                                                   "pair model's left key, the right table).")
    history: Optional[list[Key]] = Field(None, min_length=1, max_length=MAX_HISTORY,
                                         description="A user's items, oldest first; never recommended back. "
                                                     "Alone: items nearest to their (weighted) mean. With left, a "
                                                     "pair model trained with recent > 0 adds recent_weight times "
                                                     "each item's mean cosine to the latest recent of them, as "
                                                     "`entembed recommend` does (see blend in the answer).")
    weights: Optional[list[Weight]] = Field(None, min_length=1, max_length=MAX_HISTORY,
                                           description="One weight >= 0 per history item (default: all 1); "
                                                       "not with left.")
    left: Optional[Key] = Field(None, description="Pair models: a left key (a user); items are scored as the "
                                                  "model scores pairs (optionally with the user's history).")
    among: Optional[list[Key]] = Field(None, min_length=1, max_length=MAX_AMONG,
                                       description="Only recommend these keys.")
    k: int = Field(10, ge=1, le=MAX_K)
    metric: Optional[Metric] = Field(None, description="Default: cosine for a history; the model's own score "
                                                       "(dot or cosine) for a left key, the only one its blend "
                                                       "of a history takes.")

    @model_validator(mode="after")
    def _one_query(self) -> "RecommendRequest":
        if self.history is None and self.left is None:
            raise ValueError("give history (a list of keys), left (a pair model's left key), or both")
        if self.weights is not None and self.left is not None:
            raise ValueError("weights weigh a history recommended from without left; with left, the history is "
                             "the user's items as the pair model scores them: leave weights out")
        if self.weights is not None and (self.history is None or len(self.weights) != len(self.history)):
            raise ValueError(f"weights must have one number per history item "
                             f"({0 if self.history is None else len(self.history)}); got {len(self.weights)}")
        if self.weights is not None and not sum(self.weights) > 0:
            raise ValueError("weights must have a positive sum")
        return self


class Blend(BaseModel):
    recent: int = Field(description="How many of the history's latest items the scores follow.")
    recent_weight: float = Field(description="Each item's score gains this times its mean cosine to them.")


class Recommendation(BaseModel):
    table: str
    metric: Metric
    blend: Optional[Blend] = Field(None, description="Present when a pair model trained with recent > 0 scored "
                                                     "a left key with its history: each score is the metric's "
                                                     "plus the blend of the user's latest items.")
    items: list[Neighbor]


class Entity(BaseModel):
    key: str
    id: int
    count: int = Field(description="How often the key was seen in the training data.")


class Entities(BaseModel):
    entities: list[Entity]


class Similarity(BaseModel):
    a: str
    b: str
    metric: Metric
    score: float


class Vector(BaseModel):
    key: str
    id: int
    vector: list[float]


class TableInfo(BaseModel):
    name: str
    size: int
    dim: int
    map: Optional[str] = Field(None, description="Method of the 2-D map (umap, tsne, pca), or null.")
    metadata: list[str] = Field(description="Metadata columns the map can be coloured by.")


class ModelInfo(BaseModel):
    name: str
    kind: str = Field(description="pair, table, text or next-item.")
    score: str = Field(description="How a pair model scores a (left, right) pair: dot or cosine (cosine for "
                                   "other kinds); the default metric of a left-key recommendation.")
    tables: list[TableInfo]
    blend: Optional[Blend] = Field(None, description="Present for a pair model trained with recent > 0: a left "
                                                     "key's recommendations with a history follow its latest items.")


class Models(BaseModel):
    models: list[ModelInfo]


class Health(BaseModel):
    status: Literal["ok"]
    models: int


class Colors(BaseModel):
    column: str
    categories: list[str]
    codes: list[int] = Field(description="Category index of each key, in id order (values outside the most "
                                         "common ones, and missing values, are the category \"other\").")


class MapData(BaseModel):
    method: str
    x: list[float] = Field(description="Horizontal position per key, in id order, in [0, 1].")
    y: list[float]
    color: Optional[Colors] = None


class Problem(BaseModel):
    detail: str
    suggestions: list[str] = []
