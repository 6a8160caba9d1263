// The KPI dashboard: asks /api/kpi for the chosen period, cut and filters, and draws totals, charts and tables.
//
// Up to three reports per view, all from the one computation on the server: the table's cut (`by`), the
// 15-minute intervals (or days, for ranges over two days) for the rate and volume charts, and per agent for
// the agent-state chart; a cut that is already one of them is asked for once. Nothing reloads the page: the
// query string is kept in the address (history.replaceState), so a reload or a shared link shows the same view.

import { api } from "/static/console.js";
import { barChart, lineChart, stackedBars } from "/static/kpi_charts.js";

const $ = (selector) => document.querySelector(selector);
const form = $("#kpi-filters");
let generation = 0; // answers of an older request are dropped when a newer one was sent

// -- KPI names, labels and units ------------------------------------------------------------------------------

const GROUPS = [
  { name: "inbound", title: "Inbound calls" },
  { name: "outbound", title: "Outbound campaigns" },
  { name: "patient", title: "Patient relationship" },
  { name: "agents", title: "Agent time" },
  { name: "other", title: "Other" },
];
// name: [group, short label (column header), full name, unit]
const KPIS = {
  offered: ["inbound", "Offered", "Calls offered", "count"],
  answered: ["inbound", "Answered", "Calls answered", "count"],
  abandoned: ["inbound", "Abandoned", "Calls abandoned (short abandons excluded)", "count"],
  short_abandons: ["inbound", "Short ab.", "Short abandons (excluded from abandoned)", "count"],
  asa_seconds: ["inbound", "ASA", "Average speed of answer", "seconds"],
  aht_seconds: ["inbound", "AHT", "Average handle time (talk + hold + wrap-up)", "seconds"],
  service_level: ["inbound", "Service level", "Answered within the queue's target / (offered - short abandons)", "rate"],
  abandon_rate: ["inbound", "Abandon rate", "Abandoned / (offered - short abandons)", "rate"],
  occupancy: ["inbound", "Occupancy", "Time handling calls / time signed in and not paused", "rate"],
  transfers: ["inbound", "Transfers", "Calls transferred", "count"],
  callbacks: ["inbound", "Callbacks", "Callbacks", "count"],
  fcr_rate: ["inbound", "FCR", "First-contact resolution", "rate"],
  outbound_dialed: ["outbound", "Dialed", "Campaign calls dialed", "count"],
  contact_rate: ["outbound", "Contact rate", "Answered by a person / dialed", "rate"],
  completion_rate: ["outbound", "Completion", "Targets completed", "rate"],
  confirmations: ["outbound", "Confirmed", "Appointments confirmed", "count"],
  cancellations: ["outbound", "Cancelled", "Appointments cancelled", "count"],
  opt_outs: ["outbound", "Opt-outs", "Patients who asked not to be called", "count"],
  amd_human: ["outbound", "AMD human", "Answering-machine detection: person", "count"],
  amd_machine: ["outbound", "AMD machine", "Answering-machine detection: machine", "count"],
  outbound_abandon_rate: ["outbound", "Abandon rate", "Outbound abandon rate (cap 3%)", "rate"],
  followup_rate: ["patient", "Follow-up", "Discharged patients followed up", "rate"],
  csat: ["patient", "CSAT", "Satisfied patients (4 or 5 of 5) / survey answers", "rate"],
  red_flags: ["patient", "Red flags", "Red flags found", "count"],
  time_to_escalation_seconds: ["patient", "To escalation", "Average time to escalation", "seconds"],
  complaint_resolution_hours: ["patient", "Complaints", "Average complaint resolution time", "hours"],
  available_seconds: ["agents", "Available", "Time available, ringing included (h:mm:ss)", "duration"],
  on_call_seconds: ["agents", "On call", "Time on calls (h:mm:ss)", "duration"],
  wrapup_seconds: ["agents", "Wrap-up", "Time in wrap-up (h:mm:ss)", "duration"],
  paused_seconds: ["agents", "Paused", "Time paused (h:mm:ss)", "duration"],
};
// The tiles above the charts: [name, label].
const SUMMARY = [["offered", "Offered"], ["answered", "Answered"], ["abandoned", "Abandoned"],
                 ["service_level", "Service level"], ["abandon_rate", "Abandon rate"],
                 ["asa_seconds", "Speed of answer"], ["aht_seconds", "Handle time"],
                 ["occupancy", "Occupancy"]];
const AGENT_STATES = [
  { name: "available_seconds", label: "Available", cls: "st-available" },
  { name: "on_call_seconds", label: "On call", cls: "st-on-call" },
  { name: "wrapup_seconds", label: "Wrap-up", cls: "st-wrapup" },
  { name: "paused_seconds", label: "Paused", cls: "st-paused" },
];
const OCCUPANCY_PARTS = [
  { name: "busy", label: "On calls and wrap-up", cls: "st-on-call" },
  { name: "idle", label: "Available", cls: "st-available" },
];
const CUT_TITLES = { interval: "15 minutes", day: "Day", week: "Week", month: "Month", queue: "Queue",
                     agent: "Agent", campaign: "Campaign" };
const LEVEL_TEXT = { green: "on target", amber: "near target", red: "off target" };

const info = (name) => KPIS[name] || ["other", name.replaceAll("_", " "), name.replaceAll("_", " "), "number"];

// Under a minute with a tenth (an ASA of 43.75 s is "43.8 s"); longer as minutes:seconds.
function seconds(v) {
  if (v < 59.95) return `${v.toFixed(1)} s`;
  const total = Math.round(v), m = Math.floor(total / 60), s = total % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}

// Time spent in a state: h:mm:ss (a paused afternoon is 4:20:00, not 260:00).
function duration(v) {
  const total = Math.round(v), h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

const FORMATS = {
  duration,
  count: (v) => String(v),
  rate: (v) => `${(v * 100).toFixed(1)}%`,
  seconds,
  hours: (v) => `${v.toFixed(1)} h`,
  score: (v) => v.toFixed(2),
  number: (v) => (Number.isInteger(v) ? String(v) : v.toFixed(2)),
};

export function format(name, value) {
  if (value === null || value === undefined) return "–";
  return FORMATS[info(name)[3]](value);
}

// green / amber / red from the report's thresholds; null when the KPI has none or no value.
export function level(name, value, thresholds) {
  const t = thresholds[name];
  if (!t || value === null || value === undefined) return null;
  if (t.higher_is_better) return value >= t.green ? "green" : value >= t.amber ? "amber" : "red";
  return value <= t.green ? "green" : value <= t.amber ? "amber" : "red";
}

// -- the form and the address -----------------------------------------------------------------------------

function isoDay(d) { return d.toISOString().slice(0, 10); }

function addDays(iso, n) {
  const d = new Date(`${iso}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return isoDay(d);
}

// The presets count from the hospital's today (given by the server), not the browser's.
function presetRange(period) {
  const today = form.dataset.today;
  switch (period) {
    case "today": return [today, today];
    case "yesterday": return [addDays(today, -1), addDays(today, -1)];
    case "last7": return [addDays(today, -6), today];
    case "month": return [`${today.slice(0, 8)}01`, today];
    default: return null;
  }
}

function params() {
  const p = new URLSearchParams();
  for (const key of ["from", "to", "by", "queue", "agent", "campaign"]) {
    const v = form.elements[key].value;
    if (v) p.set(key, v);
  }
  if (form.elements.business_hours.checked) p.set("business_hours", "1");
  return p;
}

function restore() {
  const q = new URLSearchParams(location.search);
  for (const key of ["from", "to", "by", "queue", "agent", "campaign"]) {
    if (q.get(key)) form.elements[key].value = q.get(key);
  }
  form.elements.business_hours.checked = q.get("business_hours") === "1";
  form.elements.period.value = matchingPreset();
}

function matchingPreset() {
  const range = [form.elements.from.value, form.elements.to.value].join();
  for (const period of ["today", "yesterday", "last7", "month"]) {
    if (presetRange(period).join() === range) return period;
  }
  return "custom";
}

// -- loading --------------------------------------------------------------------------------------------------

function spanDays(p) {
  return (Date.parse(`${p.get("to")}T00:00:00Z`) - Date.parse(`${p.get("from")}T00:00:00Z`)) / 86400000 + 1;
}

async function load() {
  const mine = ++generation;
  const p = params();
  history.replaceState(null, "", `${location.pathname}?${p}`);
  $("#kpi-csv").href = `/api/kpi.csv?${p}`;
  const chartBy = spanDays(p) > 2 ? "day" : "interval";
  const wanted = [...new Set([p.get("by") || "interval", chartBy, "agent"])];
  document.body.classList.add("kpi-loading");
  try {
    const answers = await Promise.all(wanted.map((by) => {
      const q = new URLSearchParams(p);
      q.set("by", by);
      return api("GET", `/api/kpi?${q}`);
    }));
    if (mine !== generation) return;
    const byCut = Object.fromEntries(wanted.map((by, i) => [by, answers[i]]));
    showError("");
    draw(p, byCut[p.get("by") || "interval"], byCut[chartBy], byCut.agent);
  } catch (err) {
    if (mine === generation) showError(err.message || "The report could not be loaded.");
  } finally {
    if (mine === generation) document.body.classList.remove("kpi-loading");
  }
}

function showError(message) {
  const box = $("#kpi-error");
  box.textContent = message;
  box.hidden = !message;
}

function draw(p, table, chart, agents) {
  const range = p.get("from") === p.get("to") ? p.get("from") : `${p.get("from")} to ${p.get("to")}`;
  $("#kpi-range").textContent = `${range} · ${table.time_zone}`;
  $("#kpi-definitions").textContent = table.definitions_version;
  drawSummary(table);
  drawRates(chart);
  drawVolumes(chart);
  drawAgents(agents);
  drawTables(table);
  document.body.dataset.loadedBy = table.by;  // tests wait on these two
  document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
}

// -- totals ---------------------------------------------------------------------------------------------------

function drawSummary(report) {
  const items = SUMMARY.filter(([name]) => name in report.totals).map(([name, title]) => {
    const value = report.totals[name], lvl = level(name, value, report.thresholds);
    const li = document.createElement("li");
    li.className = `kpi-tile${lvl ? ` kpi-${lvl}` : ""}`;
    li.dataset.kpi = name;
    if (lvl) li.dataset.level = lvl;
    const label = document.createElement("span");
    label.className = "kpi-tile-label";
    label.textContent = title;
    label.title = info(name)[2];
    const number = document.createElement("span");
    number.className = "kpi-tile-value";
    number.textContent = format(name, value);
    li.append(label, number);
    if (lvl) li.append(levelText(lvl));
    return li;
  });
  $("#kpi-summary").replaceChildren(...items);
}

function levelText(lvl) {
  const span = document.createElement("span");
  span.className = "visually-hidden";
  span.textContent = ` (${LEVEL_TEXT[lvl]})`;
  return span;
}

// -- charts ---------------------------------------------------------------------------------------------------

// The part of the day that had calls: empty intervals before the first and after the last are left out.
function activeRows(report) {
  const busy = (r) => (r.kpis.offered || 0) > 0 || (r.kpis.outbound_dialed || 0) > 0;
  const first = report.rows.findIndex(busy);
  if (first < 0) return [];
  const last = report.rows.length - 1 - [...report.rows].reverse().findIndex(busy);
  return report.rows.slice(first, last + 1);
}

function axisLabel(report, row) {
  if (report.by === "interval") return row.key.slice(11, 16);
  return row.label || row.key;
}

function drawRates(report) {
  const rows = activeRows(report);
  const unit = report.by === "interval" ? "15-minute intervals" : "days";
  $("#chart-rates-title").textContent = `Service level and abandonment rate (${unit})`;
  const series = ["service_level", "abandon_rate"].map((name, k) => ({
    name, label: info(name)[1], cls: k ? "s-abandon" : "s-service",
    format: (v) => format(name, v), values: rows.map((r) => r.kpis[name] ?? null),
  }));
  const thresholds = ["service_level", "abandon_rate"].filter((n) => report.thresholds[n]).map((name, k) => ({
    name, value: report.thresholds[name].green, cls: name === "service_level" ? "t-service" : "t-abandon",
    label: `${info(name)[1]} target ${format(name, report.thresholds[name].green)}`,
  }));
  lineChart($("#chart-rates .kpi-chart-body"), { labelledBy: "chart-rates-title",
    labels: rows.map((r) => axisLabel(report, r)), series, thresholds });
}

function drawVolumes(report) {
  const rows = activeRows(report);
  const unit = report.by === "interval" ? "per 15 minutes" : "per day";
  $("#chart-volumes-title").textContent = `Calls offered, answered and abandoned (${unit})`;
  const groups = [["offered", "b-offered"], ["answered", "b-answered"], ["abandoned", "b-abandoned"]]
    .map(([name, cls]) => ({ name, cls, label: info(name)[1], values: rows.map((r) => r.kpis[name] || 0) }));
  barChart($("#chart-volumes .kpi-chart-body"), { labelledBy: "chart-volumes-title",
    labels: rows.map((r) => axisLabel(report, r)), groups, format: String });
}

// Time per state and agent when the report carries it; until then each agent's occupancy (busy share of
// the time signed in and not paused), which the report has.
function drawAgents(report) {
  const body = $("#chart-agents .kpi-chart-body");
  const hasStates = report.rows.some((r) => AGENT_STATES.some((s) => (r.kpis[s.name] || 0) > 0));
  if (hasStates) {
    $("#chart-agents-title").textContent = "Agent states (time per state)";
    const rows = report.rows.map((r) => ({ label: r.label || r.key, parts: AGENT_STATES.map((s) => r.kpis[s.name] || 0) }))
      .filter((r) => r.parts.some((v) => v > 0));
    return stackedBars(body, { labelledBy: "chart-agents-title", rows, parts: AGENT_STATES, format: duration });
  }
  $("#chart-agents-title").textContent = "Agent occupancy (share of signed-in time on calls and wrap-up)";
  const rows = report.rows.filter((r) => r.kpis.occupancy !== null && r.kpis.occupancy !== undefined)
    .map((r) => ({ label: r.label || r.key, parts: [r.kpis.occupancy, 1 - r.kpis.occupancy] }));
  stackedBars(body, { labelledBy: "chart-agents-title", rows, max: 1, parts: OCCUPANCY_PARTS,
    format: (v) => format("occupancy", v) });
}

// -- tables ---------------------------------------------------------------------------------------------------

function cell(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  node.textContent = text;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function valueCell(tag, name, value, thresholds) {
  const lvl = level(name, value, thresholds);
  const td = cell(tag, format(name, value), { "data-kpi": name });
  if (lvl) {
    td.className = `kpi-${lvl}`;
    td.dataset.level = lvl;
    td.append(levelText(lvl));
  }
  return td;
}

// One table per group of KPIs. A group with nothing in the period (no campaign call, say) is one line; in a
// table by time, the intervals or days with nothing for the group are left out (the note says how many).
function drawTables(report) {
  const names = Object.keys(report.totals);
  const byTime = ["interval", "day", "week", "month"].includes(report.by);
  const out = [];
  for (const g of GROUPS) {
    const cols = names.filter((n) => info(n)[0] === g.name);
    if (!cols.length) continue;
    if (!cols.some((n) => present(n, report.totals[n]))) {
      out.push(cell("p", `${g.title}: nothing in this period.`, { class: "muted kpi-none", "data-group": g.name }));
      continue;
    }
    const rows = byTime ? report.rows.filter((r) => cols.some((n) => present(n, r.kpis[n]))) : byLabel(report.rows);
    out.push(table(report, g, cols, rows));
    if (rows.length < report.rows.length) {
      out.push(cell("p", `${report.rows.length - rows.length} of ${report.rows.length} rows ` +
                    `(${CUT_TITLES[report.by].toLowerCase()}) have none of these figures and are not listed.`,
                    { class: "muted kpi-skipped" }));
    }
  }
  $("#kpi-tables").replaceChildren(...out);
}

// Something to show: a count above zero, or any rate or average at all (an occupancy of 0% says agents waited).
function present(name, value) {
  return ["count", "duration"].includes(info(name)[3]) ? value > 0 : value !== null && value !== undefined;
}

// Queues, agents and campaigns in the order people read them: by their title.
function byLabel(rows) {
  return [...rows].sort((a, b) => (a.label || a.key).localeCompare(b.label || b.key));
}

// Intervals of a one-day report are named by their time only; longer reports keep the date.
function rowLabel(report, row) {
  // A local day lasts 23 to 25 hours (daylight saving time).
  const oneDay = Date.parse(report.to) - Date.parse(report.from) <= 25 * 3600000;
  return report.by === "interval" && oneDay ? row.key.slice(11, 16) : row.label || row.key;
}

function table(report, group, cols, rows) {
  const t = document.createElement("table");
  t.className = "kpi-table card";
  t.dataset.group = group.name;
  t.append(cell("caption", group.title));
  const head = document.createElement("tr");
  head.append(cell("th", CUT_TITLES[report.by] || report.by, { scope: "col" }));
  for (const name of cols) {
    const th = cell("th", "", { scope: "col", "data-kpi": name });
    const abbr = cell("abbr", info(name)[1], { title: info(name)[2] });
    th.append(abbr);
    head.append(th);
  }
  const thead = document.createElement("thead");
  thead.append(head);
  const tbody = document.createElement("tbody");
  for (const row of rows) {
    const tr = document.createElement("tr");
    tr.dataset.key = row.key;
    tr.append(cell("th", rowLabel(report, row), { scope: "row" }));
    const thresholds = { ...report.thresholds, ...(row.thresholds || {}) }; // a queue's own ASA target
    for (const name of cols) tr.append(valueCell("td", name, row.kpis[name] ?? null, thresholds));
    tbody.append(tr);
  }
  const foot = document.createElement("tr");
  foot.dataset.key = "total";
  foot.append(cell("th", "Total", { scope: "row" }));
  for (const name of cols) foot.append(valueCell("td", name, report.totals[name] ?? null, report.thresholds));
  const tfoot = document.createElement("tfoot");
  tfoot.append(foot);
  t.append(thead, tbody, tfoot);
  return t;
}

// -- wiring ---------------------------------------------------------------------------------------------------

function onPeriod() {
  const range = presetRange(form.elements.period.value);
  if (range) [form.elements.from.value, form.elements.to.value] = range;
  if (range) load();
  else form.elements.from.focus();
}

form.elements.period.addEventListener("change", onPeriod);
for (const key of ["from", "to"]) {
  form.elements[key].addEventListener("change", () => { form.elements.period.value = matchingPreset(); });
}
for (const key of ["by", "queue", "agent", "campaign", "business_hours"]) {
  form.elements[key].addEventListener("change", load);
}
form.addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
restore();
load();
// A period that includes today keeps up by itself (a quiet reload of the same view every minute).
setInterval(() => {
  if (!document.hidden && form.elements.to.value >= form.dataset.today) load();
}, 60000);
