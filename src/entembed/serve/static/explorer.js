// entembed explorer: search a key, list its neighbours, show them on the table's 2-D map.
// Plain JavaScript over the HTTP API (no library, nothing fetched from elsewhere): a canvas draws every
// key, an SVG layer on top marks the query (red) and its neighbours (orange).
"use strict";

const PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
                 "#aec7e8", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2"];
const PLAIN = "#9aa5b1";   // points without a colour, and the "other" group
const OTHER = "other";     // the group of values outside the most common ones (and of missing values)
const PAD = 12;            // pixels between the map and the panel's edge
const LABELS = 5;          // neighbours labelled by name on the map

const $ = (id) => document.getElementById(id);
const state = { models: [], model: null, table: null, map: null, colors: null, query: null, found: [],
                suggestions: [], active: -1, typed: 0 };

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail
      : (body.detail || []).map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
    throw new Error(detail || response.statusText);
  }
  return body;
}

function url(path, params) {
  const query = new URLSearchParams(params || {}).toString();
  return `v1/${encodeURIComponent(state.model)}/${encodeURIComponent(state.table)}/${path}${query ? "?" + query : ""}`;
}

function say(message) { $("status").textContent = message || ""; }

// ---- tables -------------------------------------------------------------------------------------------
async function start() {
  state.models = (await api("v1/models")).models;
  const select = $("table");
  for (const model of state.models) {
    for (const table of model.tables) {
      const option = new Option(`${model.name} / ${table.name} (${table.size.toLocaleString()})`,
                                JSON.stringify([model.name, table.name]));
      select.add(option);
    }
  }
  select.addEventListener("change", () => openTable(...JSON.parse(select.value)));
  $("color").addEventListener("change", () => loadColors().then(draw));
  $("k").addEventListener("change", () => state.query && pick(state.query));
  $("metric").addEventListener("change", () => state.query && pick(state.query));
  window.addEventListener("resize", draw);
  const first = state.models[0];
  await openTable(first.name, first.tables[0].name);
}

function tableInfo() {
  const model = state.models.find((m) => m.name === state.model);
  return model.tables.find((t) => t.name === state.table);
}

async function openTable(model, table) {
  Object.assign(state, { model, table, map: null, colors: null, query: null, found: [] });
  $("table").value = JSON.stringify([model, table]);
  $("neighbors").replaceChildren();
  $("query").textContent = "";
  $("search").value = "";
  const info = tableInfo();
  const color = $("color");
  color.replaceChildren(new Option("nothing", ""));
  for (const column of info.metadata) color.add(new Option(column, column));
  if (info.metadata.length) color.value = info.metadata[0];
  say(info.map ? "Loading the map…" : "");
  if (info.map) {
    state.map = await api(url("map"));
    await loadColors();
    say("");
  }
  draw();
}

async function loadColors() {
  const column = $("color").value;
  state.colors = column && state.map ? (await api(url("map", { color: column }))).color : null;
  const legend = $("legend");
  legend.replaceChildren();
  if (!state.colors) return;
  state.colors.categories.forEach((name, i) => {
    const item = document.createElement("span");
    item.style.setProperty("--c", name === OTHER ? PLAIN : PALETTE[i % PALETTE.length]);
    item.textContent = name;
    legend.append(item);
  });
}

// ---- the map --------------------------------------------------------------------------------------------
function frame() {
  const box = $("map").getBoundingClientRect();
  const side = Math.max(1, Math.min(box.width, box.height) - 2 * PAD);
  const left = (box.width - side) / 2, top = (box.height - side) / 2;
  return { width: box.width, height: box.height,
           at: (i) => [left + state.map.x[i] * side, top + (1 - state.map.y[i]) * side] };
}

function draw() {
  const canvas = $("points"), svg = $("highlights");
  const box = $("map").getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(box.width * ratio);
  canvas.height = Math.round(box.height * ratio);
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, box.width, box.height);
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${box.width} ${box.height}`);
  if (!state.map) return;
  const { at } = frame();
  const codes = state.colors ? state.colors.codes : null;
  const other = state.colors ? state.colors.categories.indexOf(OTHER) : -1;
  const size = state.map.x.length > 20000 ? 1.5 : 2.5;
  context.globalAlpha = 0.7;
  for (let i = 0; i < state.map.x.length; i++) {
    const [px, py] = at(i);
    const code = codes ? codes[i] : -1;
    context.fillStyle = code >= 0 && code !== other ? PALETTE[code % PALETTE.length] : PLAIN;
    context.fillRect(px - size / 2, py - size / 2, size, size);
  }
  highlight(at);
}

function highlight(at) {
  const svg = $("highlights");
  if (!state.query) return;
  const mark = (id, cls, radius, label) => {
    const [cx, cy] = at(id);
    const circle = document.createElementNS(svg.namespaceURI, "circle");
    Object.entries({ cx, cy, r: radius, class: cls, "data-id": id }).forEach(([k, v]) => circle.setAttribute(k, v));
    const title = document.createElementNS(svg.namespaceURI, "title");
    title.textContent = label;
    circle.append(title);
    svg.append(circle);
    return [cx, cy];
  };
  const labels = [];
  state.found.forEach((n, rank) => {
    const point = mark(n.id, "neighbor", 4.5, `${n.key} (${n.score.toFixed(3)})`);
    if (rank < LABELS) labels.push([point, n.key]);
  });
  labels.push([mark(state.query.id, "query", 7, state.query.key), state.query.key]);
  for (const [[x, y], text] of labels) {
    const node = document.createElementNS(svg.namespaceURI, "text");
    node.setAttribute("x", x + 8);
    node.setAttribute("y", y + 4);
    node.textContent = text;
    svg.append(node);
  }
}

// ---- search and neighbours ----------------------------------------------------------------------------
async function suggest() {
  const typed = ++state.typed;
  const text = $("search").value;
  if (!text.trim()) return showSuggestions([]);
  try {
    const found = (await api(url("entities", { q: text, limit: 10 }))).entities;
    if (typed === state.typed) showSuggestions(found);
  } catch (error) { say(error.message); }
}

function showSuggestions(items) {
  state.suggestions = items;
  state.active = -1;
  const list = $("suggestions");
  list.replaceChildren(...items.map((item, i) => {
    const li = document.createElement("li");
    li.setAttribute("role", "option");
    li.dataset.index = i;
    const key = document.createElement("span");
    key.textContent = item.key;
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = item.count.toLocaleString();
    li.append(key, count);
    li.addEventListener("mousedown", (event) => { event.preventDefault(); choose(i); });
    return li;
  }));
  list.hidden = items.length === 0;
  $("search").setAttribute("aria-expanded", String(items.length > 0));
}

function choose(i) {
  const item = state.suggestions[i];
  showSuggestions([]);
  if (item) pick(item.key);
}

async function pick(key) {
  $("search").value = key;
  say("");
  try {
    const answer = await api(url("neighbors", { key, k: $("k").value, metric: $("metric").value }));
    state.query = { key: answer.key, id: answer.id };
    state.found = answer.neighbors;
  } catch (error) {
    say(error.message);
    return;
  }
  $("query").textContent = `Closest to ${state.query.key}`;
  const label = $("metric").value === "euclidean" ? "distance" : "score";
  $("neighbors").replaceChildren(...state.found.map((n) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.textContent = n.key;
    button.addEventListener("click", () => pick(n.key));
    const score = document.createElement("span");
    score.className = "score";
    score.title = label;
    score.textContent = n.score.toFixed(3);
    li.append(button, score);
    return li;
  }));
  draw();
}

let typing = 0;
$("search").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(suggest, 80); });
$("search").addEventListener("blur", () => showSuggestions([]));
$("search").addEventListener("keydown", (event) => {
  const n = state.suggestions.length;
  if (event.key === "ArrowDown" && n) state.active = (state.active + 1) % n;
  else if (event.key === "ArrowUp" && n) state.active = (state.active - 1 + n) % n;
  else if (event.key === "Enter") {
    event.preventDefault();
    if (state.active >= 0) choose(state.active);
    else if ($("search").value) { showSuggestions([]); pick($("search").value); }
    return;
  } else if (event.key === "Escape") return showSuggestions([]);
  else return;
  event.preventDefault();
  [...$("suggestions").children].forEach((li, i) => li.classList.toggle("active", i === state.active));
});

start().catch((error) => say(error.message));
