"""The interactive map: one self-contained HTML file that works offline (plotly.js inlined, no network).

Hover shows a key and its metadata; a menu colours the points by any metadata column (its 10 most common
values + "other"); a search box finds a key and highlights it with its nearest neighbours.

The neighbours are computed here, in the full space (the same exact search as ``entembed neighbors``), and
stored in the file as k ids and scores for every shown point, rather than computed in the page from stored
vectors: ids take ~k x 6 bytes a point where vectors would take ~dim x 10 (a 50-D table: 60 vs 500 bytes),
the page needs no search code, and what it shows matches the Python API exactly. The cost is an all-pairs
search when writing the file: O(n^2 dim), seconds for 37,020 x 50, impractical beyond a few hundred
thousand keys.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..embeddings import Embeddings
from ..errors import InputError, MissingExtraError
from ..export import open_table
from .plot import OTHER, colour_groups
from .reduce import map_coordinates
from .views import check_column, table_metadata

__all__ = ["map_document", "write_html_map", "SVG_LIMIT"]

#: Up to this many points the map is drawn as SVG; above it with WebGL (scattergl), which stays fast.
SVG_LIMIT = 20_000
_TOP = 10


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise MissingExtraError("the HTML map", "viz", "plotly") from None
    return get_plotlyjs()


def map_document(embeddings: Embeddings, coordinates: np.ndarray, metadata: pd.DataFrame | None = None, *,
                 k: int = 10, metric: str = "cosine", colour_by: str | None = None, title: str = "") -> dict:
    """The data the page shows: keys, coordinates, metadata columns (codes + levels, top values for colour),
    and each key's ``k`` nearest neighbours in the full space with their scores."""
    n = len(embeddings)
    ids, scores = embeddings.search(np.arange(n), k, metric=metric)
    columns = {}
    for name in (metadata.columns if metadata is not None else []):
        values = metadata[name]
        codes, levels = pd.factorize(values.astype(object).where(values.notna(), None), use_na_sentinel=True)
        groups, order = colour_groups(values, _TOP)
        group_codes = pd.Index(order).get_indexer(groups)
        columns[str(name)] = {"codes": codes.tolist(), "levels": [str(v) for v in levels],
                              "groups": order, "group_codes": group_codes.tolist()}
    if colour_by is not None and colour_by not in columns:
        check_column(metadata, colour_by, "the metadata")
    return {"title": title, "metric": metric, "dim": embeddings.dim, "k": int(ids.shape[1]),
            "keys": embeddings.keys, "x": np.round(coordinates[:, 0], 4).tolist(),
            "y": np.round(coordinates[:, 1], 4).tolist(), "columns": columns, "colour_by": colour_by,
            "other": OTHER, "neighbours": ids.tolist(), "scores": np.round(scores, 3).tolist(),
            "webgl": n > SVG_LIMIT}


def write_html_map(source: str | os.PathLike, output: str | os.PathLike, *, table: str | None = None,
                   method: str = "umap", metadata: str | os.PathLike | None = None, key_column: str | None = None,
                   colour_by: str | None = None, k: int = 10, metric: str = "cosine", seed: int | None = 0,
                   quiet: bool = True, **params: Any) -> Path:
    """Write the interactive map of ``table`` of a model folder or vectors file to ``output`` (.html)."""
    output = Path(output)
    if output.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"{output}: the interactive map is an HTML file; name it with .html.")
    if not output.absolute().parent.is_dir():
        raise InputError(f"{output}: the folder {output.absolute().parent} does not exist; create it first.")
    script = _plotly_js()
    name, embeddings = open_table(source, table)
    meta = table_metadata(source, embeddings, metadata, key_column=key_column)
    if colour_by is not None:
        check_column(meta, colour_by, str(metadata or source))
    coordinates = map_coordinates(source, name, method, metric=metric, seed=seed, quiet=quiet, embeddings=embeddings,
                                  **params)
    title = f"{name}: {len(embeddings):,} keys, {method} ({metric})"
    document = map_document(embeddings, coordinates, meta, k=k, metric=metric, colour_by=colour_by, title=title)
    page = _PAGE.replace("{{title}}", html.escape(title)).replace("{{plotly}}", script)
    page = page.replace("{{data}}", json.dumps(document, ensure_ascii=False).replace("</", "<\\/"))
    page = page.replace("{{app}}", _APP)
    temporary = output.with_name(f".{output.name}.partial-{os.getpid()}")
    try:
        temporary.write_text(page, encoding="utf-8")
        os.replace(temporary, output)
    finally:
        temporary.unlink(missing_ok=True)
    return output


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{title}}</title>
<style>
body { font-family: sans-serif; margin: 0; }
#bar { padding: 8px; display: flex; gap: 12px; align-items: center; flex-wrap: wrap; border-bottom: 1px solid #ddd; }
#map { width: 100vw; height: calc(100vh - 110px); }
#status { font-size: 13px; color: #333; }
</style>
<script>{{plotly}}</script>
</head><body>
<div id="bar">
<label>Find a key <input id="search" list="keys" size="40" placeholder="type a key, then Enter"></label>
<label>Colour by <select id="colour"></select></label>
<span id="status"></span>
</div>
<datalist id="keys"></datalist>
<div id="map"></div>
<script id="data" type="application/json">{{data}}</script>
<script>{{app}}</script>
</body></html>
"""

_APP = r"""
const D = JSON.parse(document.getElementById('data').textContent);
const N = D.keys.length, KIND = D.webgl ? 'scattergl' : 'scatter';
const PALETTE = ['#1f77b4','#ff7f0e','#2ca02c','#9467bd','#8c564b','#e377c2','#bcbd22','#17becf','#aec7e8','#ffbb78'];
const columns = Object.keys(D.columns);
const index = new Map(D.keys.map((k, i) => [k, i]));
const lower = new Map(D.keys.map((k, i) => [k.toLowerCase(), i]));
const hover = D.keys.map((k, i) => '<b>' + escape(k) + '</b>' + columns.map(c => {
  const code = D.columns[c].codes[i];
  return code < 0 ? '' : '<br>' + escape(c) + ': ' + escape(D.columns[c].levels[code]);
}).join(''));
let searched = null;

function escape(s) { return String(s).replace(/[&<>]/g, ch => ({'&': '&amp;', '<': '&lt;', '>': '&gt;'}[ch])); }

function pointTraces(column) {
  const size = Math.max(2, Math.min(8, 3000 / Math.sqrt(N) / 6));
  if (!column) {
    return [{type: KIND, mode: 'markers', name: 'keys', x: D.x, y: D.y, text: hover, hoverinfo: 'text',
             marker: {size: size, color: '#7f7f7f', opacity: 0.7}}];
  }
  const spec = D.columns[column], groups = spec.groups.map(() => []);
  spec.group_codes.forEach((g, i) => groups[g].push(i));
  return spec.groups.map((name, g) => ({
    type: KIND, mode: 'markers', name: name + ' (' + groups[g].length + ')',
    x: groups[g].map(i => D.x[i]), y: groups[g].map(i => D.y[i]), text: groups[g].map(i => hover[i]),
    hoverinfo: 'text', marker: {size: size, opacity: 0.7, color: name === D.other ? '#c8c8c8' : PALETTE[g % 10]}}));
}

function highlightTraces(i) {
  if (i === null) return [];
  const ids = D.neighbours[i];
  return [
    {type: KIND, mode: 'markers', name: 'neighbours of ' + D.keys[i], x: ids.map(j => D.x[j]),
     y: ids.map(j => D.y[j]), text: ids.map((j, r) => hover[j] + '<br>' + D.metric + ': ' + D.scores[i][r]),
     hoverinfo: 'text', marker: {size: 11, color: '#ff0000', line: {color: '#000000', width: 1}}},
    {type: KIND, mode: 'markers+text', name: D.keys[i], x: [D.x[i]], y: [D.y[i]], text: [D.keys[i]],
     textposition: 'top center', hovertext: [hover[i]], hoverinfo: 'text',
     marker: {size: 20, symbol: 'star', color: '#ff0000', line: {color: '#000000', width: 1.5}}}];
}

function draw() {
  const column = document.getElementById('colour').value;
  const layout = {title: {text: D.title}, hovermode: 'closest', margin: {t: 40, l: 10, r: 10, b: 10},
                  xaxis: {showticklabels: false, zeroline: false}, yaxis: {showticklabels: false, zeroline: false},
                  legend: {itemsizing: 'constant'}};
  Plotly.react('map', pointTraces(column).concat(highlightTraces(searched)), layout, {responsive: true});
}

function find(text) {
  const status = document.getElementById('status');
  const query = text.trim();
  if (!query) { searched = null; status.textContent = ''; draw(); return; }
  let i = index.has(query) ? index.get(query) : lower.get(query.toLowerCase());
  if (i === undefined) {
    const q = query.toLowerCase();
    const close = D.keys.filter(k => k.toLowerCase().includes(q)).slice(0, 5);
    status.textContent = 'no key ' + JSON.stringify(query) + (close.length ? '; did you mean: ' + close.join(', ') : '');
    status.dataset.found = 'false';
    return;
  }
  searched = i;
  status.dataset.found = 'true';
  status.textContent = D.keys[i] + ': ' + D.k + ' nearest in the full ' + D.dim + '-D space (' + D.metric + '): ' +
    D.neighbours[i].map((j, r) => D.keys[j] + ' ' + D.scores[i][r].toFixed(2)).join(', ');
  draw();
}

const select = document.getElementById('colour');
select.add(new Option('(none)', ''));
columns.forEach(c => select.add(new Option(c, c)));
select.value = D.colour_by || (columns.includes('genre') ? 'genre' : '');
select.addEventListener('change', draw);
if (N <= 50000) {
  const list = document.getElementById('keys');
  D.keys.forEach(k => list.appendChild(new Option(k)));
}
const box = document.getElementById('search');
box.addEventListener('keydown', e => { if (e.key === 'Enter') find(box.value); });
box.addEventListener('change', () => find(box.value));
draw();
"""
