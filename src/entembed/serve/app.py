"""The HTTP API (FastAPI) over a Catalog of loaded models, and the explorer page at ``/``.

Read-only: every route answers from the models loaded at start. Routes are plain ``def`` functions, so
FastAPI runs them in its thread pool and a slow query never blocks the event loop. Unknown names answer
404 with the closest known names as ``suggestions``; bad parameters answer 422 naming the field; bodies
over ``MAX_BODY_BYTES`` answer 413 before they are read in full.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated, Optional

import numpy as np

from .. import __version__
from ..errors import InputError, MissingExtraError
from ..protocols import recommend_for_user

try:
    from fastapi import Body, FastAPI, Path, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.middleware.gzip import GZipMiddleware
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
except ImportError as exc:  # the serve extra
    raise MissingExtraError("entembed serve", "serve", "fastapi") from exc
from .catalog import Catalog, NotFound, ServedModel, Table
from .schemas import (MAX_BODY_BYTES, MAX_K, MAX_KEY_CHARS, MAX_LIMIT, Blend, Entities, Entity, Health, MapData,
                      Metric, ModelInfo, Models, Neighbor, Neighbors, NeighborsBatch, NeighborsRequest, Problem,
                      RecommendRequest, Recommendation, Similarity, TableInfo, Vector)

__all__ = ["create_app", "BodyLimit"]

STATIC = files("entembed.serve") / "static"
ModelName = Annotated[str, Path(description="A served model (its folder's name).")]
TableName = Annotated[str, Path(description="A table of the model (e.g. books, links).")]
_ERRORS = {404: {"model": Problem, "description": "Unknown model, table or key (with suggestions)."}}


def create_app(catalog: Catalog) -> FastAPI:
    """The FastAPI application answering for the models of ``catalog``."""
    # no /docs or /redoc: FastAPI's pages load their scripts from a CDN, and the server works offline
    app = FastAPI(title="entembed", version=__version__, responses=_ERRORS, docs_url=None, redoc_url=None,
                  description="Nearest neighbours, recommendations and vectors of trained entembed models.")
    # gzip level 3: 20 ms for a 37,000-key map (the default level 9 took 0.7 s for 15% fewer bytes)
    app.add_middleware(GZipMiddleware, minimum_size=4096, compresslevel=3)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.state.catalog = catalog
    for model in catalog.models.values():
        for table in model.tables.values():
            table.embeddings.index("cosine")  # built now, not on the first request

    @app.exception_handler(NotFound)
    def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "suggestions": exc.suggestions}, status_code=404)

    @app.exception_handler(InputError)
    def bad_input(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["body"], "msg": str(exc), "type": "value_error"}]},
                            status_code=422)

    def table_of(model: str, table: str) -> Table:
        return catalog.model(model).table(table)

    def listed(table: Table, found: list[tuple[str, float]]) -> list[Neighbor]:
        index = table.embeddings.vocab.index
        return [Neighbor(key=key, id=index(key), score=score) for key, score in found]

    @app.get("/", include_in_schema=False)
    def explorer() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> Health:
        """Liveness: the models are loaded and the server answers."""
        return Health(status="ok", models=len(catalog.models))

    @app.get("/v1/models", response_model=Models, response_model_exclude_none=True, tags=["models"])
    def models() -> Models:
        """The served models: name, kind, each table's size, dimension, map and metadata columns, and for a
        pair model that follows a user's latest items, its blend."""
        return Models(models=[
            ModelInfo(name=m.name, kind=m.kind, score=m.score, blend=model_blend(m), tables=[
                TableInfo(name=t.name, size=len(t.embeddings), dim=t.embeddings.dim, map=t.map_method,
                          metadata=list(t.metadata)) for t in m.tables.values()])
            for m in catalog.models.values()])

    def model_blend(served: ServedModel) -> Blend | None:
        """The blend of a pair model trained with recent > 0 (None for the others)."""
        config = None if served.pair is None else served.pair.config
        return Blend(recent=config.recent, recent_weight=config.recent_weight) if config and config.recent else None

    @app.get("/v1/{model}/{table}/entities", response_model=Entities, tags=["keys"])
    def entities(model: ModelName, table: TableName,
                 q: str = Query("", max_length=200, description="Text the keys must contain (any case)."),
                 limit: int = Query(10, ge=1, le=MAX_LIMIT)) -> Entities:
        """Autocomplete: keys containing ``q``, those starting with it first, each group most frequent first."""
        served = table_of(model, table)
        vocab = served.embeddings.vocab
        ids = vocab.complete(q, limit)
        return Entities(entities=[Entity(key=vocab.keys[i], id=int(i), count=int(vocab.counts[i])) for i in ids])

    @app.get("/v1/{model}/{table}/neighbors", response_model=Neighbors, tags=["neighbours"])
    def neighbors(model: ModelName, table: TableName,
                  key: str = Query(..., max_length=MAX_KEY_CHARS, description="The key to find neighbours of."),
                  k: int = Query(10, ge=1, le=MAX_K), metric: Metric = "cosine") -> Neighbors:
        """The ``k`` keys closest to ``key`` (never the key itself), closest first."""
        served = table_of(model, table)
        return _neighbors(served, served.key_ids([key]), k, metric)[0]

    @app.post("/v1/{model}/{table}/neighbors", response_model=NeighborsBatch, tags=["neighbours"])
    def neighbors_batch(model: ModelName, table: TableName,
                        request: NeighborsRequest = Body(...)) -> NeighborsBatch:
        """Neighbours of several keys in one request (one matrix product)."""
        served = table_of(model, table)
        results = _neighbors(served, served.key_ids(request.keys), request.k, request.metric)
        return NeighborsBatch(metric=request.metric, results=results)

    # blend: absent, not null, when not used (answers without it are as they were)
    @app.post("/v1/{model}/recommend", response_model=Recommendation, response_model_exclude_none=True,
              tags=["neighbours"])
    def recommend(model: ModelName, request: RecommendRequest = Body(...)) -> Recommendation:
        """Items for a user: nearest to the weighted mean of a history of keys (the history excluded), or, for
        a pair model, the right-table items a left key scores highest (its history, if given, excluded and,
        for a model trained with recent > 0, blended in as `entembed recommend` does); optionally only among
        given keys."""
        served_model = catalog.model(model)
        if request.left is not None:
            return for_left_key(served_model, request)
        target = served_model.table(request.table or next(iter(served_model.tables)))
        metric = request.metric or "cosine"
        history = target.key_ids(request.history)
        among = None if request.among is None else target.key_ids(request.among)
        found = target.embeddings.recommend(history, request.k, metric=metric, weights=request.weights,
                                            among=among)
        return Recommendation(table=target.name, metric=metric, items=listed(target, found))

    def for_left_key(served: ServedModel, request: RecommendRequest) -> Recommendation:
        """A pair model's items for a left key: the target items nearest its vector by the metric, or, when
        the model blends in a user's latest items and a history is given, the items ``recommend_for_user``
        ranks (the CLI's answer); history items are never recommended back."""
        if served.kind != "pair":
            raise RequestValidationError([{"loc": ("body", "left"), "type": "value_error",
                                           "msg": f"left needs a pair model; {served.name!r} is a "
                                                  f"{served.kind} model: give a history instead"}])
        names = list(served.tables)
        source, target = served.table(names[0]), served.table(request.table or names[-1])
        blend = blend_of(served, target, request)
        row = source.key_id(request.left)
        history = target.key_ids(request.history or [])  # unknown keys: 404 naming them, as without left
        among = None if request.among is None else target.key_ids(request.among)
        if blend is not None:
            k = min(request.k, len(target.embeddings))  # as nearest answers: at most every item
            found = recommend_for_user(served.pair, request.left, k, exclude=request.history,
                                       recent=request.history, among=request.among)
            return Recommendation(table=target.name, metric=served.score, blend=blend, items=listed(target, found))
        metric = request.metric or served.score
        found = target.embeddings.nearest(source.embeddings.vectors[row], request.k, metric=metric,
                                          exclude=history, among=among)
        return Recommendation(table=target.name, metric=metric, items=listed(target, found))

    def blend_of(served: ServedModel, target: Table, request: RecommendRequest) -> Blend | None:
        """The pair model's blend of a user's latest items, if this request uses it: a history given to a
        model trained with recent > 0. Its scores are the model's own, over its right table only."""
        blend = model_blend(served)
        if request.history is None or blend is None:
            return None
        right = list(served.tables)[-1]
        if target.name != right or request.metric not in (None, served.score):
            raise RequestValidationError([{"loc": ("body",), "type": "value_error",
                                           "msg": f"{served.name!r} blends a history's {blend.recent} latest "
                                                  f"items into its {served.score} scores of table {right!r}: "
                                                  f"with left and history, table must be {right!r} and metric "
                                                  f"{served.score!r} (or leave them out)"}])
        return blend

    @app.get("/v1/{model}/{table}/similarity", response_model=Similarity, tags=["neighbours"])
    def similarity(model: ModelName, table: TableName, a: str = Query(..., max_length=MAX_KEY_CHARS),
                   b: str = Query(..., max_length=MAX_KEY_CHARS),
                   metric: Metric = "cosine") -> Similarity:
        """Cosine similarity, dot product or euclidean distance of two keys."""
        served = table_of(model, table)
        ia, ib = served.key_ids([a, b])
        return Similarity(a=a, b=b, metric=metric, score=served.embeddings.similarity(int(ia), int(ib), metric))

    @app.get("/v1/{model}/{table}/vectors/{key:path}", response_model=Vector, tags=["keys"])
    def vector(model: ModelName, table: TableName, key: str = Path(..., max_length=MAX_KEY_CHARS)) -> Vector:
        """The vector of ``key`` (float32 values as JSON numbers)."""
        served = table_of(model, table)
        row = served.key_id(key)
        return Vector(key=key, id=row, vector=served.embeddings.vectors[row].tolist())

    @app.get("/v1/{model}/{table}/map", response_model=MapData, tags=["keys"])
    def map_data(model: ModelName, table: TableName,
                 color: Optional[str] = Query(None, description="A metadata column to colour the keys by.")
                 ) -> JSONResponse:
        """The table's 2-D map (x, y in [0, 1] per key in id order), optionally with a colour column."""
        served = table_of(model, table)
        if served.coordinates is None:
            raise NotFound(f"table {table!r} of {model!r} has no map: the server was started with --map none.", [])
        colors = None
        if color is not None:
            if color not in served.metadata:
                known = list(served.metadata)
                raise NotFound(f"table {table!r} has no metadata column {color!r}; its columns are "
                               f"{', '.join(map(repr, known)) or 'none'}.", known[:3])
            colors = {"column": color, "categories": served.categories[color],
                      "codes": served.metadata[color].tolist()}
        xy = np.round(served.coordinates.astype(np.float64), 4)
        # tens of thousands of numbers: answered as built (the schema is MapData), not validated item by item
        return JSONResponse({"method": served.map_method, "x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(),
                             "color": colors})

    def _neighbors(served: Table, ids: np.ndarray, k: int, metric: str) -> list[Neighbors]:
        found, scores = served.embeddings.search(ids, k, metric=metric)
        keys = served.embeddings.keys
        return [Neighbors(key=keys[q], id=int(q), metric=metric,
                          neighbors=[Neighbor(key=keys[i], id=int(i), score=float(s)) for i, s in zip(row, row_s)])
                for q, row, row_s in zip(ids, found, scores)]

    return app


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413, by Content-Length or as they
    stream in, so a huge body is never held in memory."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._refuse(send)
        received, started, refused = 0, False, False

        async def limited_receive():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes and not started:
                refused = True
                await self._refuse(send)
                return {"type": "http.disconnect"}  # the route stops reading; its answer is dropped
            return message

        async def watched_send(message):
            nonlocal started
            if not refused:
                started = started or message["type"] == "http.response.start"
                await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, send) -> None:
        response = JSONResponse({"detail": f"request body too large: at most {self.max_bytes} bytes."},
                                status_code=413)
        await response({"type": "http"}, None, send)
