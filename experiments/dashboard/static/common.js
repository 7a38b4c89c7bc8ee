// Shared by every page: JSON calls with readable errors, the banner, number formatting, and a
// small SVG line chart (no libraries, no build step).
"use strict";

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

// fetch JSON; throws ApiError with the server's message (status 0 when the server is unreachable).
async function api(path, options = {}) {
  const init = { headers: { "Accept": "application/json" }, credentials: "same-origin", ...options };
  if (options.body !== undefined) {
    init.method = options.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    setConnection(false);
    throw new ApiError("the dashboard server is unreachable (stopped, or the network is down)", 0);
  }
  setConnection(true);
  let data = null;
  try { data = await response.json(); } catch (error) { data = null; }
  if (!response.ok) {
    throw new ApiError((data && data.error) || `${response.status} ${response.statusText}`, response.status);
  }
  return data;
}

function setConnection(ok) {
  const el = document.getElementById("connection");
  if (!el) return;
  el.textContent = ok ? "" : "server unreachable: retrying";
  el.classList.toggle("bad", !ok);
}

function showBanner(messages, kind = "warn") {
  const el = document.getElementById("banner");
  const list = (Array.isArray(messages) ? messages : [messages]).filter(Boolean);
  el.hidden = list.length === 0;
  el.className = `banner ${kind}`;
  el.textContent = list.join(" · ");
}

function fmt(value, digits = 2) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(digits);
  return String(value);
}

function pct(value) { return value === null || value === undefined ? "–" : `${Math.round(100 * value)}%`; }

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${(seconds / 3600).toFixed(1)} h ago`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function fillKv(table, rows) {
  table.replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: fmt(v) }))));
}

const SVG = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

function niceTicks(lo, hi, count = 5, integer = false) {
  if (hi === lo) { hi = lo + 1; }
  const step0 = integer ? Math.max(1, (hi - lo) / count) : (hi - lo) / count;
  const magnitude = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= step0);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toFixed(10));
  return ticks;
}

// Draws series [{name, points: [[x, y], ...], kind: "line" | "dots", cls}] into an <svg viewBox>.
// Each series becomes a <path> or <g> with data-series and data-points (count), which tests read.
function lineChart(svg, series, { yMin = null, yMax = null, empty = "no data yet" } = {}) {
  const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
  const pad = { left: 44, right: 12, top: 12, bottom: 26 };
  svg.replaceChildren();
  const all = series.flatMap((s) => s.points.filter((p) => p[1] !== null));
  if (all.length === 0) {
    const text = svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" });
    text.textContent = empty;
    svg.append(text);
    svg.dataset.points = "0";
    return;
  }
  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  let y0 = yMin ?? Math.min(...all.map((p) => p[1])), y1 = yMax ?? Math.max(...all.map((p) => p[1]));
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= 1; y1 += 1; }
  const sx = (x) => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y) => height - pad.bottom - ((y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  const axes = svgEl("g", { class: "axes" });
  for (const t of niceTicks(y0, y1, 4)) {
    axes.append(svgEl("line", { x1: pad.left, x2: width - pad.right, y1: sy(t), y2: sy(t), class: "grid" }));
    const label = svgEl("text", { x: pad.left - 6, y: sy(t) + 4, "text-anchor": "end" });
    label.textContent = fmt(t);
    axes.append(label);
  }
  const integerX = all.every((p) => Number.isInteger(p[0]));
  for (const t of niceTicks(x0, x1, 6, integerX)) {
    if (integerX && !Number.isInteger(t)) continue;
    const label = svgEl("text", { x: sx(t), y: height - 8, "text-anchor": "middle" });
    label.textContent = fmt(t);
    axes.append(label);
  }
  svg.append(axes);
  for (const s of series) {
    const points = s.points.filter((p) => p[1] !== null);
    if (s.kind === "dots") {
      const group = svgEl("g", { class: `series ${s.cls || ""}`, "data-series": s.name, "data-points": points.length });
      for (const [x, y] of points) group.append(svgEl("circle", { cx: sx(x), cy: sy(y), r: 3 }));
      svg.append(group);
    } else {
      const d = points.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join("");
      svg.append(svgEl("path", { d, class: `series ${s.cls || ""}`, "data-series": s.name, "data-points": points.length }));
    }
  }
  svg.dataset.points = String(all.length);
}

// Runs fn now and every `ms` (after each finished call), showing errors in the banner.
function poll(fn, ms) {
  const tick = async () => {
    try { await fn(); } catch (error) { showBanner(error.message, "error"); }
    setTimeout(tick, ms);
  };
  tick();
}
