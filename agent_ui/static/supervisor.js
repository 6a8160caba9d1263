// The supervisor page: live wallboard (websocket), monitoring buttons, recording search and playback.
//
// The server pushes a snapshot whenever something changes; timers are counted here from the snapshot's
// timestamps, corrected by the server's clock (`now` in each message), so they tick without traffic.

import { api, ApiError, connectSocket, shortcut } from "/static/console.js";

const $ = (selector) => document.querySelector(selector);
let clockOffset = 0; // server time minus browser time, in ms
let monitor = null;  // the monitoring session this page started: {id, call_id, mode, state}
let latest = null;

// -- small helpers ----------------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function elapsed(since) {
  const seconds = Math.max(0, Math.floor((Date.now() + clockOffset - Date.parse(since)) / 1000));
  return duration(seconds);
}

function duration(total) {
  total = Math.round(total);
  const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(s).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function timer(since) {
  return el("span", { class: "timer", "data-since": since }, elapsed(since));
}

function tick() {
  for (const node of document.querySelectorAll("[data-since]")) {
    node.textContent = elapsed(node.dataset.since);
  }
  if (latest) markLateQueues(latest.queues);
}

// A queue whose longest wait is past its service level turns red.
function markLateQueues(queues) {
  for (const q of queues) {
    const card = document.querySelector(`.queue-card[data-queue="${CSS.escape(q.name)}"]`);
    const late = Boolean(q.longest_since) &&
      (Date.now() + clockOffset - Date.parse(q.longest_since)) / 1000 > q.service_level_seconds;
    if (card) card.classList.toggle("queue-late", late);
  }
}

function showError(id, message) {
  const box = document.getElementById(id);
  box.textContent = message || "";
  box.hidden = !message;
}

// Queue titles, from the search form's options (rendered by the server).
function queueTitle(name) {
  const option = document.querySelector(`#recording-search select[name=queue] option[value="${CSS.escape(name || "")}"]`);
  return option && name ? option.textContent : name || "—";
}

const STATE_LABELS = {
  available: "Available", paused: "Paused", logged_out: "Logged out", ringing: "Ringing",
  on_call: "On call", wrapup: "Wrap-up",
};

// -- tabs -------------------------------------------------------------------------------------------------

function selectTab(name) {
  for (const tab of document.querySelectorAll(".sv-tab")) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !selected;
  }
}

// -- wallboard --------------------------------------------------------------------------------------------

function render(message) {
  if (message.type !== "wallboard") return;
  latest = message;
  clockOffset = Date.parse(message.now) - Date.now();
  renderQueues(message.queues, message.today || {});
  markLateQueues(message.queues);
  renderCalls(message.calls);
  renderAgents(message.agents);
  $("#ivr-count").textContent = message.in_ivr ? `· ${message.in_ivr} in the menu` : "";
  followMonitor(message.calls);
}

function renderQueues(queues, today) {
  const list = $("#queues");
  list.replaceChildren(...queues.map((q) => {
    const waiting = q.waiting.map((w) => el("li", { "data-call": w.call_id },
      "Caller ", timer(w.since), w.priority ? el("span", { class: "badge badge-urgent" }, "priority") : null));
    return el("li", { class: "queue-card", "data-queue": q.name },
      el("h3", {}, q.title),
      el("p", { class: "queue-count" }, el("strong", { class: "waiting-count" }, String(q.waiting.length)),
        " waiting"),
      el("p", { class: "queue-longest" }, "Longest ",
        q.longest_since ? timer(q.longest_since) : el("span", {}, "—")),
      waiting.length ? el("ol", { class: "waiting-list" }, ...waiting) : null,
      today[q.name] ? todayLine(today[q.name]) : null);
  }));
}

// Today so far, from the KPI computation (the same numbers as the KPI dashboard, issue 7).
function todayLine(t) {
  const sl = t.service_level === null ? "–" : `${(t.service_level * 100).toFixed(1)}%`;
  const figure = (name, label, value) => el("span", { "data-kpi": name }, `${label} `, el("strong", {}, value));
  return el("p", { class: "queue-today muted sv-small" }, "Today: ",
    figure("offered", "offered", String(t.offered)), " · ", figure("answered", "answered", String(t.answered)),
    " · ", figure("abandoned", "abandoned", String(t.abandoned)), " · ", figure("service_level", "SL", sl));
}

function renderCalls(calls) {
  const body = $("#calls tbody");
  body.replaceChildren(...calls.map((c) => {
    const mine = monitor && monitor.call_id === c.call_id;
    const others = c.monitors.filter((m) => !monitor || m.id !== monitor.id);
    // A session of this page's stays stoppable whatever the call does; no new one where the server would
    // refuse it (ringing, on hold, consulting: `monitorable` is false).
    const buttons = mine ? el("span", { class: "sv-monitor-buttons" },
        el("span", { class: "status status-connected" }, monitor.mode),
        el("button", { type: "button", class: "button button-small", textContent: "Stop", onclick: stopMonitor }))
      : !c.monitorable ? el("span", { class: "muted sv-not-monitorable" },
        c.status === "ringing" ? "ringing" : "on hold: monitoring when they talk again")
      : el("span", { class: "sv-monitor-buttons" },
        ...["listen", "whisper", "barge"].map((mode) => el("button", {
          type: "button", class: "button button-small", disabled: Boolean(monitor),
          textContent: mode[0].toUpperCase() + mode.slice(1),
          title: `${mode} on ${c.agent.name}'s call from your phone`,
          onclick: () => startMonitor(c, mode),
        })));
    return el("tr", { "data-call": c.call_id, "data-status": c.status },
      el("td", {}, `${c.agent.number} · ${c.agent.name}`),
      el("td", {}, queueTitle(c.queue)),
      el("td", {}, el("span", { class: `status status-${c.status}` }, c.status),
        others.length ? el("span", { class: "muted sv-small" }, ` · monitored (${others.map((m) => m.mode)})`) : null),
      el("td", {}, timer(c.since)),
      el("td", {}, buttons));
  }));
  $("#calls-empty").hidden = calls.length > 0;
}

function renderAgents(agents) {
  $("#agents tbody").replaceChildren(...agents.map((a) => el("tr", { "data-agent": a.number, "data-state": a.state },
    el("td", {}, a.number),
    el("td", {}, a.name),
    el("td", {}, el("span", { class: `state state-${a.state}` }, STATE_LABELS[a.state] || a.state),
      a.pause_reason ? el("span", { class: "muted sv-small" }, ` (${a.pause_reason})`) : null),
    el("td", {}, timer(a.since)),
    el("td", {}, a.state === "wrapup" ? el("button", {
      type: "button", class: "button button-small", textContent: "Release",
      title: `End ${a.name}'s wrap-up: the desk goes available, the disposition it owes is kept as a task`,
      onclick: (event) => { event.target.disabled = true; releaseDesk(a); },  // the wallboard follows
    }) : null))));
}

// -- wrap-up: release a desk, dispositions owed ---------------------------------------------------------

const TASK_REASONS = { supervisor_release: "Released from wrap-up", agent_away: "Logged out: console closed" };

async function releaseDesk(agent) {
  showError("wallboard-error", "");
  try {
    await api("POST", `/api/agents/${agent.number}/release`, { state: "available" });
  } catch (error) {
    showError("wallboard-error", `Could not release desk ${agent.number}: ${error.message}`);
  }
  loadTasks();
}

let dispositionCodes = [];
let writing = null;  // the task whose disposition form is open: a refresh must not wipe what is typed

async function loadTasks() {
  if (writing) return;
  try {
    const data = await api("GET", "/api/disposition-tasks");
    dispositionCodes = data.dispositions;
    renderTasks(data.tasks);
  } catch (error) {
    showError("wallboard-error", `Could not load the dispositions owed: ${error.message}`);
  }
}

function renderTasks(tasks) {
  $("#tasks tbody").replaceChildren(...tasks.map((t) => el("tr", { "data-task": t.id, "data-call": t.call_id },
    el("td", {}, t.desk),
    el("td", {}, t.agent),
    el("td", {}, t.call_started_at ? new Date(t.call_started_at).toLocaleString() : "—"),
    el("td", {}, queueTitle(t.queue)),
    el("td", {}, TASK_REASONS[t.reason] || t.reason),
    el("td", {}, timer(t.created_at)),
    el("td", {}, el("button", { type: "button", class: "button button-small", textContent: "Write disposition",
      title: `Write the disposition for desk ${t.desk} (the agent may not come back)`,
      onclick: (event) => openTaskForm(t, event.target.closest("tr")) })))));
  $("#tasks-empty").hidden = tasks.length > 0;
}

// A supervisor writes the disposition for the desk: saved as the desk's, with the supervisor as its author.
function openTaskForm(task, row) {
  writing = task.id;
  const code = el("select", { ariaLabel: "Disposition", required: true }, el("option", { value: "" }, "Choose…"),
    ...dispositionCodes.map((d) => el("option", { value: d.code }, d.label)));
  const notes = el("textarea", { rows: 2, maxLength: 4000, required: true, ariaLabel: "Notes" });
  const form = el("form", { class: "sv-task-form" }, code, notes,
    el("button", { type: "submit", class: "button button-small button-primary", textContent: "Save disposition" }),
    el("button", { type: "button", class: "button button-small", textContent: "Cancel",
      onclick: () => { writing = null; loadTasks(); } }));
  form.addEventListener("submit", (event) => { event.preventDefault(); completeTask(task, code, notes); });
  row.after(el("tr", { "data-task-form": task.id }, el("td", { colSpan: 7 }, form)));
  code.focus();
}

async function completeTask(task, code, notes) {
  showError("wallboard-error", "");
  try {
    await api("POST", `/api/disposition-tasks/${task.id}/complete`, { code: code.value, notes: notes.value });
    writing = null;
    loadTasks();
  } catch (error) {
    showError("wallboard-error", `Could not save the disposition: ${error.message}`);
  }
}

// -- monitoring -------------------------------------------------------------------------------------------

async function startMonitor(call, mode) {
  showError("wallboard-error", "");
  try {
    monitor = await api("POST", `/api/calls/${call.call_id}/monitor`, { mode });
    monitor.agent = call.agent.name;
    monitor.startedAt = Date.now();
    showMonitor(`Your phone is ringing: answer it to ${mode} on ${call.agent.name}'s call.`);
  } catch (error) {
    showError("wallboard-error", `Could not start monitoring: ${error.message}`);
  }
  if (latest) renderCalls(latest.calls);
}

function followMonitor(calls) {
  if (!monitor) return;
  const session = calls.flatMap((c) => c.monitors).find((m) => m.id === monitor.id);
  if (!session) {
    // Gone from the board: it ended (or never showed up: give the first snapshot a moment).
    if (monitor.seen || Date.now() - monitor.startedAt > 3000) endMonitor("Monitoring ended.");
    return;
  }
  monitor.seen = true;
  if (session.state === "monitoring") {
    const verb = { listen: "Listening to", whisper: "Whispering to the agent on", barge: "In" }[monitor.mode];
    showMonitor(`${verb} ${monitor.agent}'s call.`);
  }
}

function showMonitor(text) {
  $("#monitor-text").textContent = text;
  $("#monitor-bar").hidden = false;
}

function endMonitor(text) {
  monitor = null;
  $("#monitor-text").textContent = text;
  $("#monitor-stop").hidden = true;
  setTimeout(() => {
    if (!monitor) $("#monitor-bar").hidden = true;
    $("#monitor-stop").hidden = false;
  }, 4000);
  if (latest) renderCalls(latest.calls);
}

async function stopMonitor() {
  if (!monitor) return;
  try {
    await api("POST", `/api/monitors/${monitor.id}/stop`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) {
      showError("wallboard-error", `Could not stop monitoring: ${error.message}`);
      return;
    }
  }
  endMonitor("Monitoring stopped. The call goes on.");
}

// -- recordings -------------------------------------------------------------------------------------------

let pending = null; // the recording waiting for a reason

async function searchRecordings(event) {
  if (event) event.preventDefault();
  showError("recordings-error", "");
  // A POST body, never a query string: the patient field is a name or an MRN.
  const filters = {};
  for (const [key, value] of new FormData($("#recording-search"))) {
    if (String(value).trim()) filters[key] = String(value).trim();
  }
  try {
    const data = await api("POST", "/api/recordings/search", filters);
    renderRecordings(data.results);
  } catch (error) {
    showError("recordings-error", `Search failed: ${error.message}`);
  }
}

function renderRecordings(results) {
  $("#recordings tbody").replaceChildren(...results.map((r) => el("tr", { "data-recording": r.id },
    el("td", {}, new Date(r.started_at).toLocaleString()),
    el("td", {}, r.agent ? `${r.agent.number} · ${r.agent.name}` : "—"),
    el("td", {}, r.patient ? `${r.patient.name} (${r.patient.mrn})` : el("span", { class: "muted" }, "Unknown caller")),
    el("td", {}, queueTitle(r.queue)),
    el("td", {}, r.dispositions.length ? r.dispositions.join(", ") : el("span", { class: "muted" }, "—")),
    el("td", {}, r.duration_seconds != null ? duration(r.duration_seconds) : "—"),
    el("td", {}, el("button", { type: "button", class: "button button-small play-button",
      textContent: "Play", onclick: () => askReason(r) })))));
  $("#recordings-empty").hidden = results.length > 0;
  $("#recordings-empty").textContent = "No recording matches.";
  if (!results.length) $("#recordings-empty").hidden = false;
}

function askReason(recording) {
  pending = recording;
  $("#reason-what").textContent = describe(recording);
  $("#reason-text").value = "";
  showError("reason-error", "");
  $("#reason-dialog").showModal();
  $("#reason-text").focus();
}

function describe(r) {
  const who = r.patient ? `${r.patient.name} (${r.patient.mrn})` : "unknown caller";
  return `Call of ${new Date(r.started_at).toLocaleString()} · ${who} · ${r.agent ? r.agent.name : "no agent"}`;
}

async function submitReason(event) {
  event.preventDefault();
  const reason = $("#reason-text").value.trim();
  if (reason.length < 5) {
    showError("reason-error", "Write a reason of at least 5 characters.");
    $("#reason-text").focus();
    return;
  }
  try {
    const grant = await api("POST", `/api/recordings/${pending.id}/play`, { reason });
    $("#reason-dialog").close();
    play(pending, grant.url);
  } catch (error) {
    showError("reason-error", error.message);
  }
}

function play(recording, url) {
  const audio = $("#player-audio");
  $("#player").hidden = false;
  $("#player-title").textContent = describe(recording);
  audio.src = url;
  audio.play().catch((error) => showError("recordings-error", `Playback failed: ${error.message}`));
  audio.focus();
}

// -- set-up -----------------------------------------------------------------------------------------------

$("#tab-wallboard").addEventListener("click", () => selectTab("wallboard"));
$("#tab-recordings").addEventListener("click", () => selectTab("recordings"));
$("#monitor-stop").addEventListener("click", stopMonitor);
$("#recording-search").addEventListener("submit", searchRecordings);
$("#reason-form").addEventListener("submit", submitReason);
$("#reason-cancel").addEventListener("click", () => $("#reason-dialog").close());
shortcut("Alt+1", () => selectTab("wallboard"), "Show the wallboard");
shortcut("Alt+2", () => { selectTab("recordings"); $("#recording-search input").focus(); }, "Search recordings");
shortcut("Alt+S", stopMonitor, "Stop monitoring a call");
connectSocket("/api/wallboard/ws", render);
setInterval(tick, 1000);
loadTasks();
setInterval(loadTasks, 15000);  // a desk logged out while away adds a task without a supervisor's click
