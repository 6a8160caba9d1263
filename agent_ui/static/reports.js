// A report's chart: the KPI dashboard's SVG charts (kpi_charts.js) drawn from the report the server rendered
// into the page (#report-data), the same figures as the table beneath it, which is the chart's text
// alternative. Grouped bars for counts side by side, stacked bars for the parts of a whole.

import { barChart, stackedBars } from "/static/kpi_charts.js";

const data = JSON.parse(document.getElementById("report-data").textContent);
const body = document.querySelector("#report-chart .kpi-chart-body");
const labels = Object.fromEntries(data.columns.map((c) => [c.name, c.label]));
const { kind, series } = data.chart;
const rows = data.chart.rows || data.rows;
const parts = series.map((name, i) => ({ name, label: labels[name] || name, cls: `rp-${i % 8}` }));
const count = (v) => String(Math.round(v));
const emptyText = "Nothing in this period.";

if (kind === "stacked") {
  stackedBars(body, { labelledBy: "report-chart-title", parts, format: count, emptyText,
                      rows: rows.map((r) => ({ label: r.label, parts: series.map((name) => r[name] || 0) })) });
} else {
  barChart(body, { labelledBy: "report-chart-title", labels: rows.map((r) => r.label), format: count, emptyText,
                   groups: parts.map((p) => ({ ...p, values: rows.map((r) => r[p.name] || 0) })) });
}
body.dataset.drawn = kind;
