// Small SVG charts for the KPI dashboard: a line chart (rates with threshold lines), grouped bars (volumes)
// and stacked horizontal bars (agent states). No library: three chart kinds are less code than adapting one,
// and SVG elements are plain DOM (styled by kpi.css, countable by tests, printable).
//
// Every chart is drawn in a fixed viewBox and scales to its box; text stays readable down to 1366 px wide.
// Charts are pictures of the tables beneath them, which are their text alternative.

const NS = "http://www.w3.org/2000/svg";
const W = 640, H = 230;
const PAD = { left: 44, right: 22, top: 12, bottom: 30 };

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function frame(labelledBy, height = H, width = W) {
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": labelledBy,
                      preserveAspectRatio: "xMidYMid meet", class: "chart-svg" });
}

// Up to `max` evenly spaced tick positions over n categories.
function tickIndexes(n, max) {
  const step = Math.max(1, Math.ceil(n / max));
  const out = [];
  for (let i = 0; i < n; i += step) out.push(i);
  return out;
}

function xAxis(root, labels, x, bottom) {
  root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: bottom, y2: bottom, class: "axis" }));
  for (const i of tickIndexes(labels.length, 8)) {
    root.append(svg("text", { x: x(i), y: bottom + 16, class: "tick tick-x", "text-anchor": "middle" },
                    labels[i]));
  }
}

function yAxis(root, max, y, format) {
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const v = max * f, py = y(v);
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: py, y2: py, class: "grid" }));
    root.append(svg("text", { x: PAD.left - 6, y: py + 4, class: "tick tick-y", "text-anchor": "end" },
                    format(v)));
  }
}

function legend(items) {
  const list = document.createElement("ul");
  list.className = "chart-legend";
  for (const { label, cls } of items) {
    const li = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = `swatch ${cls}`;
    swatch.setAttribute("aria-hidden", "true");
    li.append(swatch, label);
    list.append(li);
  }
  return list;
}

function empty(body, message) {
  const p = document.createElement("p");
  p.className = "muted chart-empty";
  p.textContent = message;
  body.replaceChildren(p);
}

// series: [{name, label, cls, values: [number|null]}], thresholds: [{value, label, cls}], values 0..1.
export function lineChart(body, { labelledBy, labels, series, thresholds }) {
  if (!labels.length) return empty(body, "No calls in this period.");
  const root = frame(labelledBy);
  const bottom = H - PAD.bottom, span = W - PAD.left - PAD.right;
  const x = (i) => PAD.left + (labels.length === 1 ? span / 2 : (i * span) / (labels.length - 1));
  const y = (v) => bottom - v * (bottom - PAD.top);
  yAxis(root, 1, y, (v) => `${Math.round(v * 100)}%`);
  xAxis(root, labels, x, bottom);
  for (const t of thresholds) {
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(t.value), y2: y(t.value),
                              class: `threshold ${t.cls}`, "data-threshold": t.name }));
  }
  for (const s of series) root.append(lineSeries(s, x, y));
  body.replaceChildren(root, legend([...series, ...thresholds.map((t) => ({ label: t.label, cls: t.cls }))]));
}

// A line broken where a value is missing (no call offered in that interval), a dot on every value.
function lineSeries(s, x, y) {
  const group = svg("g", { class: `series ${s.cls}`, "data-series": s.name });
  let run = [];
  const flush = () => {
    if (run.length > 1) group.append(svg("polyline", { points: run.join(" "), class: "line" }));
    run = [];
  };
  s.values.forEach((v, i) => {
    if (v === null || v === undefined) return flush();
    run.push(`${x(i).toFixed(1)},${y(Math.min(1, Math.max(0, v))).toFixed(1)}`);
    group.append(svg("circle", { cx: x(i).toFixed(1), cy: y(Math.min(1, Math.max(0, v))).toFixed(1), r: 3,
                                 class: "point" }, svg("title", {}, `${s.label} ${s.format(v)}`)));
  });
  flush();
  return group;
}

// groups: [{name, label, cls, values: [number]}]: one bar per group in every category, side by side.
export function barChart(body, { labelledBy, labels, groups, format, emptyText = "No calls in this period." }) {
  if (!labels.length) return empty(body, emptyText);
  const root = frame(labelledBy);
  const bottom = H - PAD.bottom, span = W - PAD.left - PAD.right;
  const max = countMax(Math.max(1, ...groups.flatMap((g) => g.values.map((v) => v || 0))));
  const y = (v) => bottom - (v / max) * (bottom - PAD.top);
  const slot = span / labels.length, bar = Math.max(1, (slot * 0.8) / groups.length);
  const x = (i) => PAD.left + slot * i + slot / 2;
  yAxis(root, max, y, (v) => String(Math.round(v)));
  xAxis(root, labels, x, bottom);
  groups.forEach((g, k) => {
    const layer = svg("g", { class: `bars ${g.cls}`, "data-series": g.name });
    g.values.forEach((v, i) => {
      const left = PAD.left + slot * i + slot * 0.1 + bar * k, top = y(v || 0);
      layer.append(svg("rect", { x: left.toFixed(1), y: top.toFixed(1), width: bar.toFixed(1),
                                 height: (bottom - top).toFixed(1), class: "bar" },
                       svg("title", {}, `${labels[i]} ${g.label}: ${format(v || 0)}`)));
    });
    root.append(layer);
  });
  body.replaceChildren(root, legend(groups));
}

// rows: [{label, parts: [number]}], parts: [{name, label, cls}]: one stacked horizontal bar per row.
export function stackedBars(body, { labelledBy, rows, parts, format, max = null,
                                     emptyText = "No agent time in this period." }) {
  if (!rows.length) return empty(body, emptyText);
  // Drawn twice as wide as the other charts: it spans the page, and its text keeps the same size.
  const width = 2 * W, rowH = 24, height = PAD.top + rows.length * rowH + 24, left = 170;
  const right = width - PAD.right;
  const root = frame(labelledBy, height, width);
  max = max ?? Math.max(1, ...rows.map((r) => r.parts.reduce((a, b) => a + (b || 0), 0)));
  const scale = (v) => ((right - left) * v) / max;
  rows.forEach((r, i) => {
    const top = PAD.top + i * rowH;
    root.append(svg("text", { x: left - 6, y: top + rowH / 2 + 4, class: "tick", "text-anchor": "end" },
                    r.label.length > 26 ? `${r.label.slice(0, 25)}…` : r.label));
    let at = left;
    r.parts.forEach((v, k) => {
      const w = scale(v || 0);
      root.append(svg("rect", { x: at.toFixed(1), y: top + 3, width: w.toFixed(1), height: rowH - 6,
                                class: `bar ${parts[k].cls}`, "data-series": parts[k].name },
                      svg("title", {}, `${r.label} ${parts[k].label}: ${format(v || 0)}`)));
      at += w;
    });
  });
  root.append(svg("text", { x: right, y: height - 6, class: "tick", "text-anchor": "end" },
                  `full bar: ${format(max)}`));
  body.replaceChildren(root, legend(parts));
}

// For counts: four grid steps of a whole, round size (1, 2, 2.5, 3, 4 or 5 x 10^n), so a quiet day's axis
// reads 0 1 2 3 4 instead of rounding 0.5-steps into "0 1 1 2 2".
function countMax(v) {
  const quarter = v / 4, p = 10 ** Math.floor(Math.log10(quarter));
  const steps = [1, 2, 2.5, 3, 4, 5, 10].map((m) => m * p).filter((s) => Number.isInteger(s) && s >= 1);
  return 4 * (steps.find((s) => s >= quarter) || Math.max(1, Math.ceil(quarter)));
}

