// The agent desk: status, screen pop (before the phone is answered), identity check, patient record,
// call controls, wrap-up with a required disposition, patient search and callbacks.
//
// Patient data is only shown, never stored (no localStorage) nor logged to the console.
// window.deskPops collects {call_id, painted_at (ms since epoch)} of each rendered pop for scripts/bench-pop-paint.
import { api, connectSocket, shortcut } from "/static/console.js";

const root = document.getElementById("desk");
const desk = root ? root.dataset.desk : "";
const $ = (id) => document.getElementById(id);
const STATE_LABELS = { available: "Available", paused: "Paused", logged_out: "Logged out", ringing: "Ringing",
  on_call: "On a call", wrapup: "Wrap-up" };
const CALL_LABELS = { ringing: "Ringing", connected: "Connected", held: "On hold", consulting: "Consulting",
  ended: "Ended" };

const desk$ = {
  agent: null, owed: null, dispositions: [], pauseReasons: [], queues: [],
  pop: null, callId: null, callState: null, callNote: "", candidate: null, patient: null, saving: false,
  stateVersion: 0,
  loaded: false,  // the snapshot's lists are in: until then Pause stays off, as a pause needs its reason
  surveyFor: null,  // the call whose caller answers the survey when the agent hangs up (issue 17)
};
// What the pill says when the agent's part of a call ended for a reason other than a hang-up.
const END_LABELS = { transferred: "Transferred", agent_hangup_in_consultation: "Transferred",
  handed_to_emergency: "Caller with the emergency service" };
window.deskPops = [];

// -- small DOM helpers ----------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function show(id, visible) { $(id).hidden = !visible; }

function showError(message) {
  const box = $("desk-error");
  box.textContent = message;
  box.hidden = !message;
}

async function act(what, fn) {
  try {
    showError("");
    return await fn();
  } catch (error) {
    const status = error.status ? ` (${error.status})` : "";
    showError(`${what} failed${status}: ${error.message}`);
    return undefined;
  }
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
}

function dateText(iso) {
  return iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "";
}

// -- agent state ----------------------------------------------------------------------------------------

function applyAgent(agent, owed) {
  if (desk$.agent && agent.state_since < desk$.agent.state_since) return; // an older push, overtaken
  desk$.agent = agent;
  desk$.stateVersion += 1;
  desk$.owed = owed;
  renderStatus();
}

function renderStatus() {
  const { agent, owed } = desk$;
  const pill = $("state-pill");
  pill.dataset.state = agent.state;
  const reason = agent.state === "paused" && agent.pause_reason ? ` · ${labelOf(desk$.pauseReasons, agent.pause_reason)}` : "";
  pill.textContent = STATE_LABELS[agent.state] + reason;
  $("btn-available").disabled = agent.state === "available" || ["ringing", "on_call"].includes(agent.state);
  $("btn-pause").disabled = !desk$.loaded || ["ringing", "on_call"].includes(agent.state);
  show("wrapup", Boolean(owed));
  if (owed && !desk$.callId) desk$.callId = owed;
  if (agent.state === "ringing" && desk$.callState !== "connected") setCallState("ringing");
  if (agent.state === "on_call" && (!desk$.callState || desk$.callState === "ringing")) setCallState("connected");
  if (agent.state === "wrapup" || (owed && agent.state !== "on_call")) setCallState("ended");
  tick();
}

function labelOf(list, code) {
  const found = list.find((item) => item.code === code);
  return found ? found.label : code;
}

function tick() {
  if (!desk$.agent) return;
  const since = Date.parse(desk$.agent.state_since);
  $("state-timer").textContent = clock((Date.now() - since) / 1000);
  $("wrapup-timer").textContent = desk$.agent.state === "wrapup" ? clock((Date.now() - since) / 1000) : "";
}

async function setState(state, reason) {
  const body = state === "paused" ? { state, reason } : { state };
  const agent = await act(STATE_LABELS[state] || state, () => api("POST", `/api/agents/${desk}/state`, body));
  if (agent) applyAgent(agent, desk$.owed);
}

// -- screen pop -----------------------------------------------------------------------------------------
// The pop carries identity candidates only (id, name, date of birth, MRN, language, flag codes); the record
// itself is fetched once the identity is confirmed, through the audited view (openRecord).

function onPop(pop) {
  desk$.pop = pop;
  desk$.callId = pop.call_id;
  desk$.candidate = pop.patients.length === 1 ? pop.patients[0] : null;
  desk$.patient = null;
  $("record").hidden = true;
  $("record").replaceChildren();
  // `ended`: the call of the wrap-up, shown again to a console reloaded after it (queues/http.py's replay).
  if (pop.ended) setCallState("ended");
  else setCallState(desk$.agent && desk$.agent.state === "on_call" ? "connected" : "ringing");
  renderPop();
  markPainted(pop.call_id);
}

function markPainted(callId) {
  // After the next frame is painted: rAF runs before paint, the timeout after it.
  requestAnimationFrame(() => setTimeout(() => {
    performance.mark(`pop-painted-${callId}`);
    window.deskPops.push({ call_id: callId, painted_at: performance.timeOrigin + performance.now() });
  }, 0));
}

function renderPop() {
  const pop = desk$.pop;
  show("no-call", false);
  show("pop", true);
  $("pop-queue").textContent = pop.queue || "—";
  $("pop-caller").textContent = pop.caller.number || pop.caller.status;
  $("pop-language").textContent = pop.language || "—";
  $("pop-ivr").textContent = (pop.ivr_path || []).map((c) => c.label || c.key).join(" › ") || "none";
  const many = pop.patients.length > 1;
  show("pop-unknown", pop.patients.length === 0);
  show("pop-candidates", many);
  if (many) {
    $("candidates-count").textContent = `${pop.patients.length} patients`;
    $("candidate-list").replaceChildren(...pop.patients.map((p) => el("li", {},
      el("button", { type: "button", class: "link-button", onclick: () => chooseCandidate(p) },
        `${p.name} · born ${p.date_of_birth} · ${p.mrn}`))));
  }
  renderIdentity();
}

function chooseCandidate(patient) {
  desk$.candidate = patient;
  renderIdentity();
  $("btn-confirm").focus();
}

function renderIdentity() {
  const p = desk$.candidate;
  show("identity-check", Boolean(p) && !desk$.patient);
  if (!p) return;
  $("id-name").textContent = p.name;
  $("id-dob").textContent = p.date_of_birth;
  $("id-mrn").textContent = p.mrn;
  $("id-flags").replaceChildren(...(p.flags || []).map((f) => el("span", { class: "flag" }, f.replaceAll("_", " "))));
}

async function confirmIdentity() {
  const p = desk$.candidate;
  if (!p || !desk$.pop) return;
  await openRecord(p.id, "pop", desk$.pop.call_id);
  show("identity-check", false);
  if (desk$.patient) document.dispatchEvent(new CustomEvent("desk:identity", { detail: { patient_id: p.id } }));
}

async function openRecord(patientId, via, callId) {
  let summary;
  try {
    showError("");
    summary = await api("POST", `/api/agents/${desk}/patients/${patientId}/view`, { via, call_id: callId || null });
  } catch (error) {
    // Not this user's to open now (a search result gone stale, a call no longer on this desk): the server
    // opens it only as a break-the-glass view with a written reason, which the audit log keeps for review.
    if (error.status === 403) offerBreakGlass(patientId, callId, error.message);
    else showError(`Opening the record failed${error.status ? ` (${error.status})` : ""}: ${error.message}`);
    return;
  }
  desk$.patient = summary;
  renderRecord(summary);
}

function offerBreakGlass(patientId, callId, why) {
  const reason = el("textarea", { id: "glass-reason", rows: "2", maxlength: "500", required: "",
    "aria-describedby": "glass-why" });
  const form = el("form", { id: "break-glass", class: "notice-box break-glass" },
    el("p", { id: "glass-why" }, el("strong", {}, "This record is not open to you: "), why),
    el("p", {}, "Break the glass only if the patient's care needs this record now. Your reason is kept in the " +
      "audit log with your name, and break-the-glass views are reviewed."),
    el("label", {}, "Reason ", reason),
    el("div", { class: "row" },
      el("button", { type: "submit", class: "button button-danger", id: "btn-break-glass" }, "Break the glass"),
      el("button", { type: "button", class: "button button-quiet", onclick: () => { $("record").hidden = true; } },
        "Cancel")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    breakGlass(patientId, callId, reason.value);
  });
  $("record").replaceChildren(form);
  $("record").hidden = false;
  reason.focus();
}

async function breakGlass(patientId, callId, reason) {
  const summary = await act("Breaking the glass", () => api("POST", `/api/agents/${desk}/patients/${patientId}/view`,
    { via: "break_glass", reason, call_id: callId || null }));
  if (!summary) return;
  desk$.patient = summary;
  renderRecord(summary);
  $("record").prepend(el("p", { id: "glass-notice", class: "notice-box", role: "status" },
    "Opened by breaking the glass: audited with your reason."));
}

// -- the patient record ---------------------------------------------------------------------------------

function section(title, items, render, empty = "None recorded") {
  return el("section", { class: "rec-section" }, el("h3", {}, title),
    items.length ? el("ul", {}, items.map((item) => el("li", {}, render(item)))) : el("p", { class: "muted" }, empty));
}

function renderRecord(p) {
  const record = $("record");
  const phones = p.phones.map((ph) => el("span", { class: "phone" }, `${ph.e164} (${ph.kind}) `,
    el("button", { type: "button", class: "button button-small", onclick: () => dial(ph.e164, p.id) }, "Call")));
  record.replaceChildren(...[
    el("header", { class: "rec-head" },
      el("h3", { id: "record-name" }, p.name),
      el("span", {}, `born ${p.date_of_birth} (${p.age}) · ${p.sex} · MRN ${p.mrn} · ${p.language}`),
      el("div", { class: "phones" }, phones)),
    p.flags.length ? el("div", { class: "flags" }, p.flags.map((f) => el("span", { class: "flag", title: f.note || "" },
      f.flag.replaceAll("_", " ")))) : null,
    el("div", { class: "rec-grid" },
      section("Allergies", p.allergies, (a) => `${a.substance}${a.reaction ? " — " + a.reaction : ""}${a.severity ? " (" + a.severity + ")" : ""}`, "No known allergies"),
      section("Conditions", p.conditions, (c) => `${c.name}${c.chronic ? " · chronic" : ""}`),
      section("Recent visits", p.encounters, (e) => `${dateText(e.started_at)} · ${e.department} (${e.kind})${e.summary ? " — " + e.summary : ""}`),
      section("Upcoming appointments", p.upcoming_appointments, (a) => `${dateText(a.starts_at)} · ${a.department}${a.clinician ? " · " + a.clinician : ""} (${a.status})`)),
    renderTimeline(p.timeline || [])].filter(Boolean));
  if (p.recent_discharge) {
    record.querySelector(".rec-head").append(el("p", { class: "flag" },
      `Discharged ${dateText(p.recent_discharge.discharged_at)} from ${p.recent_discharge.department}`));
  }
  record.hidden = false;
}

// The patient's history across channels, newest first: each entry opens in place (what the record read
// already holds, audited with it); `href` is the page with more, which checks its own permissions.
const TIMELINE_KINDS = { call: "Call", questionnaire: "Questionnaire", ticket: "Ticket", sms: "Text message",
  care_plan: "Care plan" };

function timelineDetail(entry) {
  const d = entry.detail;
  if (entry.kind === "questionnaire") {
    return d.answers.length ? el("ul", {}, d.answers.map((a) => el("li", {}, `${a.question}: ${JSON.stringify(a.value)}`)))
      : el("p", { class: "muted" }, "No answers yet");
  }
  if (entry.kind === "call") {
    const talk = d.talk_seconds == null ? "not answered" : `talked ${Math.round(d.talk_seconds)} s`;
    const recorded = d.recordings.length ? `recorded (${d.recordings.length})` : "not recorded";
    return el("p", {}, `${talk} · ${recorded}`);
  }
  return el("p", {}, Object.entries(d).filter(([k, v]) => v != null && !k.endsWith("_id"))
    .map(([k, v]) => `${k.replaceAll("_", " ")}: ${v}`).join(" · "));
}

function renderTimeline(entries) {
  const items = entries.map((entry) => el("li", { class: "timeline-entry", "data-kind": entry.kind },
    el("details", {},
      el("summary", {}, `${dateText(entry.at)} · ${TIMELINE_KINDS[entry.kind] || entry.kind} · ${entry.title}`),
      timelineDetail(entry),
      entry.href ? el("a", { href: entry.href, target: "_blank", rel: "noopener" }, "Open") : null)));
  return el("section", { class: "rec-section rec-timeline", id: "timeline" }, el("h3", {}, "History"),
    items.length ? el("ol", { class: "timeline" }, items) : el("p", { class: "muted" }, "Nothing yet"));
}

// -- call controls (backend: /api/calls/{id}/...) -------------------------------------------------------

// `note` refines the label: the consulted agent, or why the agent's part ended ("Transferred"). A later
// setCallState of the same state without a note (the agent_state push that follows) keeps it.
function setCallState(state, note) {
  if (state !== desk$.callState || note !== undefined) desk$.callNote = note || "";
  desk$.callState = state;
  const pill = $("call-state");
  pill.dataset.state = state;
  pill.textContent = callLabel(state, desk$.callNote);
  // Hold and transfer need a talking call; hanging up also cancels a click-to-dial still ringing.
  const talking = ["connected", "held"].includes(state);
  const outboundRinging = state === "ringing" && !desk$.pop;
  show("btn-hold", state !== "held");
  show("btn-unhold", state === "held");
  show("btn-complete", state === "consulting");
  show("btn-cancel", state === "consulting");
  for (const id of ["btn-hold", "btn-unhold", "btn-blind", "btn-warm"]) $(id).disabled = !talking;
  $("btn-hangup").disabled = !(talking || state === "consulting" || outboundRinging);
  showSurveyFlag(talking);
  if (state === "ended") {
    const select = $("disposition-code");
    if (!$("wrapup").hidden && document.activeElement === document.body) select.focus();
  }
}

async function callAction(path, body, label) {
  if (!desk$.callId) { showError("There is no call to act on."); return undefined; }
  return await act(label, () => api("POST", `/api/calls/${desk$.callId}/${path}`, body));
}

// The survey after the call: asked for once per call; the button stays pressed until the call is over.
function showSurveyFlag(talking) {
  const asked = desk$.callId !== null && desk$.surveyFor === desk$.callId;
  $("btn-survey").setAttribute("aria-pressed", String(asked));
  $("btn-survey").disabled = asked || !talking || !desk$.pop;  // an inbound call (it came with a pop)
}

async function requestSurvey() {
  const callId = desk$.callId;
  if (await callAction("survey", undefined, "Survey after the call") === undefined) return;
  desk$.surveyFor = callId;
  showSurveyFlag(["connected", "held"].includes(desk$.callState));
}

// A ticket from this call (issue 17): the caller hears its serial; the agent sees it to repeat it.
async function openTicket(event) {
  event.preventDefault();
  const body = { kind: $("ticket-kind").value, category: $("ticket-category").value,
    department: $("ticket-department").value, severity: $("ticket-severity").value,
    text: $("ticket-text").value };
  const ticket = await callAction("complaint", body, "Opening the ticket");
  if (ticket === undefined) return;
  const heard = ticket.read_out && ticket.read_out.playing ? "being read to the caller" : "tell it to the caller";
  const result = $("ticket-result");
  result.textContent = `Ticket ${ticket.display} (${heard})`;
  result.dataset.serial = ticket.serial;
  result.hidden = false;
  $("ticket-text").value = "";
}

function transferBody(mode) {
  const agent = $("transfer-agent").value.trim();
  return agent ? { mode, agent } : { mode, queue: $("transfer-target").value };
}

async function dial(phone, patientId) {
  const result = await act("Dialing", () => api("POST", `/api/agents/${desk}/dial`, { phone, patient_id: patientId }));
  if (!result || !result.call_id) return;
  const adopted = desk$.callId === result.call_id; // its first call_state came before this answer
  Object.assign(desk$, { callId: result.call_id, pop: null, candidate: null });
  show("no-call", false);
  show("pop", true);
  $("pop-queue").textContent = "outbound";
  $("pop-caller").textContent = phone;
  $("pop-language").textContent = "—";
  $("pop-ivr").textContent = "none (click-to-dial)";
  for (const id of ["pop-unknown", "pop-candidates", "identity-check"]) show(id, false);
  if (!adopted) setCallState("ringing");
}

function callLabel(state, note) {
  if (state === "consulting" && note) return `Consulting ${note}`;
  if (state === "ended" && END_LABELS[note]) return END_LABELS[note];
  return CALL_LABELS[state] || state;
}

function onCallState(message) {
  // A click-to-dial's first message may overtake the answer to the dial request: adopt it.
  if (!desk$.callId && message.state !== "ended") desk$.callId = message.call_id;
  if (message.call_id !== desk$.callId) return;
  if (message.state === "consulting") setCallState("consulting", message.target || "");
  else if (message.state === "ended") setCallState("ended", message.reason || "");
  else setCallState(message.state, "");
}

// -- wrap-up --------------------------------------------------------------------------------------------

async function saveDisposition(nextState) {
  const code = $("disposition-code").value;
  const notes = $("disposition-notes").value.trim();
  if (!code || !notes) {
    showError("Choose a disposition and write notes before the next call.");
    (code ? $("disposition-notes") : $("disposition-code")).focus();
    return;
  }
  const body = { call_id: desk$.owed, code, notes, next_state: nextState,
    patient_id: desk$.patient ? desk$.patient.id : null };
  if (nextState === "paused") body.pause_reason = $("pause-reason").value;
  const when = $("callback-when").value;
  if (when) body.callback = { due_at: new Date(when).toISOString(), reason: $("callback-reason").value };
  desk$.saving = true;
  const saved = await act("Saving the disposition", () => api("POST", `/api/agents/${desk}/disposition`, body));
  desk$.saving = false;
  if (!saved) return;
  $("wrapup-form").reset();
  clearCall();
  desk$.agent = null; // the answer carries the newest state
  applyAgent(saved.agent, saved.disposition_owed);
  loadCallbacks();
}

function clearCall() {
  Object.assign(desk$, { pop: null, callId: null, callState: null, callNote: "", candidate: null, patient: null });
  show("pop", false);
  show("no-call", true);
  $("record").hidden = true;
  $("record").replaceChildren();
  $("ticket-result").hidden = true;  // the last call's serial is not this one's
}

// -- search ---------------------------------------------------------------------------------------------

async function search(event) {
  event.preventDefault();
  const body = { name: $("search-name").value, date_of_birth: $("search-dob").value, mrn: $("search-mrn").value,
    phone: $("search-phone").value, call_id: desk$.callId };
  const found = await act("Search", () => api("POST", `/api/agents/${desk}/patients/search`, body));
  if (!found) return;
  const list = $("search-results");
  list.replaceChildren(...(found.patients.length ? found.patients.map((p) => el("li", {},
    el("button", { type: "button", class: "link-button", onclick: () => openRecord(p.id, "search", desk$.callId) },
      `${p.name} · born ${p.date_of_birth} · ${p.mrn}`))) : [el("li", { class: "muted" }, "No patient found.")]));
}

// -- callbacks ------------------------------------------------------------------------------------------

function renderCallbacks(callbacks) {
  const list = $("callback-list");
  if (!callbacks.length) {
    list.replaceChildren(el("li", { class: "muted" }, "None scheduled."));
    return;
  }
  list.replaceChildren(...callbacks.map((cb) => el("li", { class: cb.overdue ? "overdue" : "" },
    el("div", {}, el("strong", {}, dateText(cb.due_at)), cb.overdue ? " · due" : "", cb.mine ? "" : ` · ${cb.queue}`),
    el("div", {}, cb.patient ? `${cb.patient.name} · ` : "", cb.phone),
    cb.reason ? el("div", { class: "muted" }, cb.reason) : null,
    el("button", { type: "button", class: "button button-small", onclick: () => dial(cb.phone, cb.patient ? cb.patient.id : null) }, "Call"))));
}

// -- dispositions owed as tasks (the desk was released from wrap-up or logged out while away) ----------------

const TASK_REASONS = { supervisor_release: "released by a supervisor", agent_away: "logged out: console closed" };

function renderTasks(tasks) {
  show("tasks", tasks.length > 0);
  $("task-list").replaceChildren(...tasks.map((task) => {
    const code = el("select", { "aria-label": "Disposition", required: "" }, el("option", { value: "" }, "Choose…"),
      desk$.dispositions.map((d) => el("option", { value: d.code }, d.label)));
    const notes = el("textarea", { rows: "2", maxlength: "4000", required: "", "aria-label": "Notes" });
    const form = el("form", { class: "task-form", onsubmit: (event) => { event.preventDefault(); completeTask(task, code, notes); } },
      code, notes, el("button", { type: "submit", class: "button button-small button-primary" }, "Save disposition"));
    return el("li", { "data-task": task.id, "data-call": task.call_id },
      el("div", {}, el("strong", {}, dateText(task.call_started_at || task.created_at)), ` · ${task.queue || "call"}`),
      task.patient ? el("div", {}, task.patient.name) : null,
      el("div", { class: "muted" }, TASK_REASONS[task.reason] || task.reason),
      form);
  }));
}

async function completeTask(task, code, notes) {
  if (!code.value || !notes.value.trim()) {
    showError("Choose a disposition and write notes.");
    return;
  }
  const saved = await act("Saving the disposition", () => api("POST", `/api/agents/${desk}/disposition`,
    { call_id: task.call_id, code: code.value, notes: notes.value.trim() }));
  if (saved) loadTasks();
}

async function loadTasks() {
  const tasks = await act("Loading the dispositions owed", () => api("GET", `/api/agents/${desk}/disposition-tasks`));
  if (tasks) renderTasks(tasks);
}

async function loadCallbacks() {
  const callbacks = await act("Loading callbacks", () => api("GET", `/api/agents/${desk}/callbacks`));
  if (callbacks) renderCallbacks(callbacks);
}

// -- loading, socket, shortcuts ---------------------------------------------------------------------------

function fillSelect(select, items, extra = []) {
  select.replaceChildren(...extra, ...items.map((item) => el("option", { value: item.code || item.name }, item.label || item.title)));
}

async function load() {
  const seen = desk$.stateVersion;
  const snap = await act("Loading your desk", () => api("GET", `/api/agents/${desk}/desk`));
  if (!snap) return;
  Object.assign(desk$, { dispositions: snap.dispositions, pauseReasons: snap.pause_reasons, queues: snap.queues,
    loaded: true });
  fillSelect($("pause-reason"), snap.pause_reasons);
  fillSelect($("disposition-code"), snap.dispositions, [el("option", { value: "" }, "Choose…")]);
  fillSelect($("transfer-target"), snap.queues);
  // The snapshot replaces what the page showed, unless a state push or the answer to the agent's own key
  // arrived while it was on its way: then it may be the older one (a slow load overwrote 'Available' with
  // 'Logged out'), and applyAgent's overtaken check decides.
  if (desk$.stateVersion === seen) desk$.agent = null;
  applyAgent(snap.agent, snap.disposition_owed);
  renderCallbacks(snap.callbacks);
  renderTasks(snap.tasks || []);
}

function onAgentState(message) {
  // Owed, then not owed without a save here: a supervisor released the desk and the call became a task.
  const released = desk$.owed && !message.disposition_owed && !desk$.saving;
  applyAgent(message.agent, message.disposition_owed);
  if (released) {
    $("wrapup-form").reset();
    clearCall();
    loadTasks();
  }
}

function onMessage(message) {
  document.dispatchEvent(new CustomEvent("desk:message", { detail: message })); // for triage.js
  if (message.type === "screen_pop") onPop(message);
  else if (message.type === "agent_state") onAgentState(message);
  else if (message.type === "call_state") onCallState(message);
  else if (message.type === "hello") load();
}

function wire() {
  $("btn-available").addEventListener("click", () => setState("available"));
  $("btn-pause").addEventListener("click", () => setState("paused", $("pause-reason").value));
  $("btn-logout").addEventListener("click", () => setState("logged_out"));
  $("btn-confirm").addEventListener("click", confirmIdentity);
  $("btn-hold").addEventListener("click", () => callAction("hold", undefined, "Hold"));
  $("btn-unhold").addEventListener("click", () => callAction("unhold", undefined, "Resume"));
  $("btn-blind").addEventListener("click", () => callAction("transfer", transferBody("blind"), "Blind transfer"));
  $("btn-warm").addEventListener("click", () => callAction("transfer", transferBody("warm"), "Warm transfer"));
  $("btn-complete").addEventListener("click", () => callAction("transfer/complete", undefined, "Completing the transfer"));
  $("btn-cancel").addEventListener("click", () => callAction("transfer/cancel", undefined, "Cancelling the transfer"));
  $("btn-hangup").addEventListener("click", () => callAction("hangup", undefined, "Hang up"));
  $("btn-survey").addEventListener("click", requestSurvey);
  $("ticket-form").addEventListener("submit", openTicket);
  $("wrapup-form").addEventListener("submit", (event) => { event.preventDefault(); saveDisposition("available"); });
  $("btn-save-pause").addEventListener("click", () => saveDisposition("paused"));
  $("search-form").addEventListener("submit", search);
  shortcut("a", () => $("btn-available").click(), "Go available");
  shortcut("p", () => $("btn-pause").click(), "Pause (with the reason chosen)");
  shortcut("h", () => (desk$.callState === "held" ? $("btn-unhold") : $("btn-hold")).click(), "Hold / resume the call");
  shortcut("x", () => $("btn-hangup").click(), "Hang up");
  shortcut("i", () => { if (!$("identity-check").hidden) confirmIdentity(); }, "Identity confirmed");
  shortcut("d", () => { if (!$("wrapup").hidden) $("disposition-code").focus(); }, "Go to the disposition");
  shortcut("/", () => $("search-name").focus(), "Search for a patient");
  setInterval(tick, 1000);
}

if (desk) {
  wire();
  load();
  connectSocket(`/api/agents/${desk}/ws`, onMessage);
}
