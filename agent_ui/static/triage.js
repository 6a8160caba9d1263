// Red-flag checklist and call script panels of the agent desk (issue 5). agent.js forwards every websocket
// message as a "desk:message" event; this module keeps its own state and talks to /api/agents/{n}/triage.
// The disposition's buttons act on the call through the server (warm transfer, emergency conference).
import { api, shortcut } from "/static/console.js";

const root = document.getElementById("desk");
const desk = root ? root.dataset.desk : "";
const $ = (id) => document.getElementById(id);

const t$ = { callId: null, queue: null, protocols: [], session: null, governing: null, scriptStep: 0,
  consulting: false, ended: false };
// The escalation buttons, by the kind the server's ladder names in a disposition's satisfied_by.
const ESCALATION_BUTTONS = { nurse_transfer: "btn-esc-nurse", emergency_conference: "btn-esc-emergency",
  instruction_read: "btn-esc-read", urgent_callback: "btn-esc-callback" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function fail(message) {
  $("triage-error").textContent = message;
  $("triage-error").hidden = !message;
}

async function run(fn) {
  fail("");
  try { return await fn(); } catch (error) { fail(error.message || String(error)); return null; }
}

// -- the call arriving and leaving --------------------------------------------------------------------------

function onMessage(event) {
  const message = event.detail;
  if (message.type === "screen_pop" && message.call_id !== t$.callId) openCall(message);
  else if (message.type === "emergency_leg" && message.call_id === t$.callId) onEmergencyLeg(message);
  else if (message.type === "call_state" && message.call_id === t$.callId
           && message.reason === "handed_to_emergency") renderEmergency({ state: "handed_over" });
  else if (message.type === "hello") resume();
  else if (message.type === "call_state" && message.state === "ended" && message.call_id === t$.callId) refresh();
  else if (message.type === "agent_state" && !message.disposition_owed
           && ["available", "logged_out", "paused"].includes(message.agent.state)) closeCall();
}

async function openCall(pop) {
  Object.assign(t$, { callId: pop.call_id, queue: pop.queue || null, session: null, governing: null,
    scriptStep: 0, consulting: false, ended: false });
  $("triage").hidden = false;
  await loadProtocols();
  const state = await refresh();
  // The server chooses the script (the campaign's own, else the queue's: callcenter/triage/scripts.yaml).
  if (state && state.script) $("script-type").value = state.script;
  loadScript();
}

// A reload (or a reconnect) forgets the panel; the server does not: the desk's call, live or ended with an
// escalation still owed, comes back with the choices that work for it.
async function resume() {
  let state = null;
  try { state = await api("GET", `/api/agents/${desk}/triage`); } catch (error) { return; } // no call: nothing
  if (!state || !state.call_id) return;
  if (state.call_id !== t$.callId) {
    Object.assign(t$, { callId: state.call_id, session: null, governing: null, scriptStep: 0, consulting: false });
    $("triage").hidden = false;
    await loadProtocols();
    // Also in wrap-up: the script of the call just ended, as it was before the reload.
    if (state.script) $("script-type").value = state.script;
    loadScript();
  }
  render(state);
}

function closeCall() {
  if (!t$.callId) return;
  Object.assign(t$, { callId: null, session: null, governing: null, consulting: false, ended: false });
  $("triage").hidden = true;
  renderEmergency(null);
  $("triage-steps").replaceChildren();
  $("script-steps").replaceChildren();
  $("triage-reason").value = "";
}

async function loadProtocols() {
  if (t$.protocols.length) return;
  const data = await run(() => api("GET", "/api/triage/protocols"));
  t$.protocols = data ? data.protocols : [];
}

async function refresh() {
  const state = await run(() => api("GET", `/api/agents/${desk}/triage`));
  if (state) render(state);
  return state;
}

// -- the checklist ------------------------------------------------------------------------------------------

function render(state) {
  const suggested = state.suggestions || [];
  const select = $("triage-protocol");
  const ordered = [...suggested.map((id) => t$.protocols.find((p) => p.id === id)).filter(Boolean),
    ...t$.protocols.filter((p) => !suggested.includes(p.id))];
  select.replaceChildren(...ordered.map((p) => el("option", { value: p.id },
    (suggested.includes(p.id) ? "★ " : "") + p.title)));
  $("triage-suggested").textContent = suggestedText(state.suggested || []);
  if (document.activeElement !== $("triage-reason")) $("triage-reason").value = state.reason || "";
  t$.session = state.session;
  t$.governing = state.governing;
  t$.ended = Boolean(state.call_ended);
  renderSession();
  renderEmergency(state.governing ? state.governing.emergency : null);
}

// Why the first protocol is offered first; every protocol stays in the list whatever the queue.
const BECAUSE = { ivr: "the IVR choice", queue: "the queue", default: "red flags to rule out on any call" };

function suggestedText(suggested) {
  if (!suggested.length) return "No suggestion: pick a protocol.";
  const first = suggested[0];
  const title = (t$.protocols.find((p) => p.id === first.protocol) || { title: first.protocol }).title;
  const why = first.because === "said" ? `the caller said “${first.phrase}”` : BECAUSE[first.because];
  return `★ ${suggested.length} suggested; first: ${title} (${why}). Any protocol can be chosen.`;
}

// The reason is sent when the agent pauses typing: the server re-ranks the protocols from the words.
let reasonTimer = null;
function reasonTyped() {
  clearTimeout(reasonTimer);
  reasonTimer = setTimeout(sendReason, 400);
}

async function sendReason() {
  clearTimeout(reasonTimer);
  if (!t$.callId) return;
  const state = await run(() => api("POST", `/api/agents/${desk}/triage/reason`, { reason: $("triage-reason").value }));
  if (state) render(state);
}

function renderSession() {
  const s = t$.session;
  // The caller gone, no protocol can be run any more: only what is owed is shown.
  $("triage-pick").hidden = Boolean(s && (s.state === "asking" || s.state === "age")) || t$.ended;
  $("triage-review").hidden = !s;
  renderAge(s);
  if (t$.ended) $("triage-age").hidden = true;
  $("triage-question").hidden = !(s && s.current) || t$.ended;
  $("triage-disposition").hidden = !(s && s.disposition);
  $("triage-steps").replaceChildren();
  if (!s) {
    // No checklist in this page's server (restarted) but a disposition governs the call: show it.
    const g = t$.governing;
    if (g) {
      $("triage-disposition").hidden = false;
      renderDisposition({ id: g.id, label: g.label, instruction: g.instruction, advice: "", call_back_if_worse: "",
        escalation_required: g.escalation_required, satisfied_by: g.satisfied_by });
    }
    return;
  }
  $("triage-protocol").value = s.protocol.id;
  $("triage-review").textContent = `${s.protocol.title} v${s.protocol.version} · ${s.protocol.review_status}`;
  $("triage-steps").replaceChildren(...s.steps.filter((step) => step.answer).map((step) =>
    el("li", {}, step.text + " ", el("span", { class: "ans-" + step.answer }, step.answer.toUpperCase()))));
  if (s.current) {
    $("triage-count").textContent = `Question ${s.current.index} of ${s.current.total}`;
    $("triage-text").textContent = s.current.text;
    $("btn-yes").focus();
  }
  if (s.disposition) {
    renderDisposition(s.disposition);
    // At 1366x768 the action buttons sit below the fold: bring the disposition into view.
    $("triage-disposition").scrollIntoView({ block: "nearest" });
  }
}

// The escalation answers to the call's governing disposition (the most urgent one reached, which a later
// milder protocol does not lower), and offers only the actions its ladder rung counts.
function renderDisposition(d) {
  const g = t$.governing || { id: d.id, escalation_required: d.escalation_required, satisfied_by: d.satisfied_by,
    owed: d.escalation_required, instruction: d.instruction };
  $("triage-disposition").classList.toggle("routine", !g.escalation_required);
  $("disp-label").textContent = d.label;
  $("disp-instruction").textContent = g.id === d.id ? d.instruction : g.instruction;
  $("disp-advice").textContent = d.advice;
  $("disp-callback").textContent = d.call_back_if_worse;
  const governs = $("disp-governing");
  governs.hidden = g.id === d.id;
  governs.textContent = g.id === d.id ? "" : `Still governing this call: ${g.label}${g.owed ? " — escalation owed" : ""}. `
    + "A later, milder result does not lower it; only a nurse can, with a written reason.";
  $("disp-actions").hidden = !g.escalation_required;
  // The server says what works now (only actions the ladder counts; with no nurse free, none that needs one;
  // after the caller hung up, the task choices).
  const offered = offeredKinds(g);
  for (const [kind, id] of Object.entries(ESCALATION_BUTTONS)) $(id).hidden = !offered.includes(kind);
  // After a reload the server remembers what this page forgot: the emergency number is already in the call.
  if (g.emergency_dialed) $("btn-esc-emergency").hidden = true;
  if (t$.consulting) { $("btn-esc-nurse").hidden = true; $("btn-esc-callback").hidden = true; }
  $("btn-esc-complete").hidden = !t$.consulting;
  $("disp-ended").hidden = !(t$.ended && g.owed && !g.task);
  $("other-means-form").hidden = !offered.includes("other_means");
  if (g.task) status(`Urgent callback made: the ${g.task.queue} line is dialing the patient now. You may finish the wrap-up.`);
  else if (g.satisfied_kind && !$("disp-status").textContent) status(`Escalation recorded (${g.satisfied_kind.replace("_", " ")}).`);
  $("override-form").hidden = !(g.owed && !g.task && $("triage").dataset.role === "nurse");
}

function offeredKinds(g) {
  return g.offer ? g.offer.map((o) => o.kind) : g.satisfied_by;
}

// An age-dependent protocol (infant fever, headache) asks the age first, unless the confirmed patient's
// record gave it; a protocol written for other ages is flagged, never refused.
function ageSaid(months) {
  return months < 24 ? `${months} month${months === 1 ? "" : "s"}` : `${Math.floor(months / 12)} years`;
}

function renderAge(s) {
  const age = s && s.age;
  const asking = Boolean(s && s.state === "age");
  $("triage-age").hidden = !asking;
  if (asking) {
    $("triage-age-question").textContent = age.question;
    // An infant's age is said in weeks; anyone else's in years.
    $("triage-age-unit").value = (age.protocol_ages || "").startsWith("under") ? "weeks" : "years";
    if (document.activeElement !== $("triage-reason")) $("triage-age-value").focus();
  }
  const known = age && age.months !== null;
  $("triage-age-known").hidden = !known;
  $("triage-age-known").classList.toggle("alert", Boolean(known && age.outside));
  if (!known) return;
  const from = age.source === "record" ? "from the patient's record" : "as the caller said";
  $("triage-age-known").textContent = `Age: ${ageSaid(age.months)} (${from}).`
    + (age.outside ? ` This protocol is written for ages ${age.protocol_ages}: check it is the right one.` : "");
}

async function giveAge(event) {
  event.preventDefault();
  const state = await run(() => api("POST", `/api/agents/${desk}/triage/age`,
    { value: Number.parseInt($("triage-age-value").value, 10), unit: $("triage-age-unit").value }));
  if (state) { $("triage-age-value").value = ""; render(state); }
}

async function start(event) {
  event.preventDefault();
  const state = await run(() => api("POST", `/api/agents/${desk}/triage`, { protocol: $("triage-protocol").value }));
  if (state) render(state);
}

async function answer(yes) {
  const s = t$.session;
  if (!s || !s.current) return;
  const state = await run(() => api("POST", `/api/agents/${desk}/triage/answer`,
    { question: s.current.id, answer: yes ? "yes" : "no" }));
  if (state) render(state);
}

// -- escalation ---------------------------------------------------------------------------------------------

function status(text) { $("disp-status").textContent = text; }

async function escalate(kind) {
  const g = t$.governing;
  if (!g || !g.escalation_required || !offeredKinds(g).includes(kind)) return;
  const labels = { nurse_transfer: "Calling a nurse…", emergency_conference: "Dialing the emergency number…",
    instruction_read: "", urgent_callback: "Making an urgent nurse callback…" };
  if (labels[kind]) status(labels[kind]);
  const done = await run(() => api("POST", `/api/agents/${desk}/triage/escalate`, { kind }));
  if (!done) { status(""); return; }
  if (kind === "nurse_transfer") {
    t$.consulting = true;
    status(`Nurse line (${done.queue}) ringing: introduce the caller and the answers, then complete the transfer.`);
  } else if (kind === "urgent_callback") {
    status("Urgent callback made: a nurse calls the patient back at once. You may finish the wrap-up.");
  } else if (kind === "emergency_conference") {
    status(EMERGENCY_STATUS.dialing);
  } else {
    status("Instruction read to the caller. Escalation recorded.");
  }
  await refresh();
}

// -- the emergency conference ---------------------------------------------------------------------------
// It counts only once the emergency service answers; busy, no answer or a failed dial must be retried. The
// desk's notice says, before the agent hangs up, what hanging up does to the caller.

const EMERGENCY_STATUS = {
  dialing: "Dialing the emergency number… Stay on the line: it counts only once the emergency service answers.",
  answered: "Emergency number conferenced: the emergency service answered and is in the call. Escalation recorded.",
  ended: "The emergency service has left the call.",
  handed_over: "You left the call: the caller is still talking with the emergency service.",
};
const EMERGENCY_NOTICE = {
  dialing: "Emergency number ringing. Stay on the line: if you hang up before it answers, the call ends.",
  answered: "Emergency service on the line. If you hang up now, the caller stays connected to the emergency "
    + "service: the call goes on without you.",
  handed_over: "You left the call: the caller is still talking with the emergency service.",
};
const FAILED_RESULTS = { busy: "was busy", no_answer: "did not answer", failed: "could not be reached" };

function failedText(result) {
  return `The emergency number ${FAILED_RESULTS[result] || "did not answer"}: NOT escalated. `
    + "Retry now (Conference emergency number, Alt+E), or tell the caller to call the emergency number.";
}

function renderEmergency(e) {
  const notice = $("emergency-notice");
  if (!notice) return;
  const text = !e ? "" : e.state === "failed" ? failedText(e.result) : EMERGENCY_NOTICE[e.state] || "";
  notice.textContent = text;
  notice.dataset.state = e ? e.state : "";
  notice.hidden = !text;
  if (e && e.state === "failed") status(failedText(e.result));
  else if (e && EMERGENCY_STATUS[e.state]) status(EMERGENCY_STATUS[e.state]);
}

async function onEmergencyLeg(message) {
  // The server's state (what counts, whether a retry is allowed) follows from the call's events.
  const state = await refresh();
  if (!state) renderEmergency(message);
}

async function completeNurse() {
  const done = await run(() => api("POST", `/api/agents/${desk}/triage/escalate/complete`));
  if (!done) return;
  t$.consulting = false;
  status("Transferred to the nurse. Escalation recorded: you may wrap up.");
  $("btn-esc-complete").hidden = true;
  await refresh();
}

async function reachedOtherwise(event) {
  event.preventDefault();
  const done = await run(() => api("POST", `/api/agents/${desk}/triage/escalate`,
    { kind: "other_means", reason: $("other-means-reason").value }));
  if (done) {
    status("Recorded: the emergency service was reached by other means (audited). You may finish the wrap-up.");
    await refresh();
  }
}

async function overrideAsNurse(event) {
  event.preventDefault();
  const done = await run(() => api("POST", `/api/calls/${t$.callId}/triage/override`,
    { reason: $("override-reason").value }));
  if (done) { status("Escalation overridden by a nurse; the reason is recorded."); await refresh(); }
}

// -- the script ---------------------------------------------------------------------------------------------

// keepStep: the same script again with new fields (the identity was confirmed): stay on the agent's step.
async function loadScript(keepStep = false) {
  const type = $("script-type").value;
  const data = await run(() => api("GET", `/api/agents/${desk}/script/${type}`));
  if (!data) return;
  if (keepStep !== true) t$.scriptStep = 0;
  // The server renders each step with autoescaping: patient fields are escaped there.
  $("script-steps").replaceChildren(...data.steps.map((step) => {
    const li = el("li", { "data-step": step.id });
    li.innerHTML = step.html;
    return li;
  }));
  markStep();
}

function markStep() {
  const items = [...$("script-steps").children];
  items.forEach((li, i) => li.classList.toggle("current", i === t$.scriptStep));
}

function moveStep(delta) {
  const count = $("script-steps").children.length;
  t$.scriptStep = Math.max(0, Math.min(count - 1, t$.scriptStep + delta));
  markStep();
}

// -- wiring -------------------------------------------------------------------------------------------------

function safeShortcut(keys, handler, description) {
  try { shortcut(keys, handler, description); } catch (error) { /* taken by another panel: buttons still work */ }
}

function wire() {
  if (!root) return;
  document.addEventListener("desk:message", onMessage);
  // A follow-up questionnaire's red-flag answer (followup.js) made a disposition govern the call.
  document.addEventListener("triage:refresh", () => { if (t$.callId) refresh(); });
  resume(); // also without waiting for the socket's hello, which may come before this module ran
  // Confirmed: the script now learns the patient's record fields (until then it had identity fields only).
  document.addEventListener("desk:identity", () => { if (t$.callId) loadScript(true); });
  $("triage-pick").addEventListener("submit", start);
  $("triage-reason").addEventListener("input", reasonTyped);
  $("triage-age").addEventListener("submit", giveAge);
  $("triage-reason").addEventListener("change", sendReason);
  $("btn-yes").addEventListener("click", () => answer(true));
  $("btn-no").addEventListener("click", () => answer(false));
  $("btn-esc-nurse").addEventListener("click", () => escalate("nurse_transfer"));
  $("btn-esc-emergency").addEventListener("click", () => escalate("emergency_conference"));
  $("btn-esc-read").addEventListener("click", () => escalate("instruction_read"));
  $("btn-esc-complete").addEventListener("click", completeNurse);
  $("btn-esc-callback").addEventListener("click", () => escalate("urgent_callback"));
  $("other-means-form").addEventListener("submit", reachedOtherwise);
  $("override-form").addEventListener("submit", overrideAsNurse);
  $("script-type").addEventListener("change", () => loadScript());
  $("btn-script-next").addEventListener("click", () => moveStep(1));
  $("btn-script-prev").addEventListener("click", () => moveStep(-1));
  const live = () => !$("triage").hidden;
  safeShortcut("y", () => { if (live()) answer(true); }, "Triage: answer Yes");
  safeShortcut("n", () => { if (live()) answer(false); }, "Triage: answer No");
  safeShortcut("Alt+T", () => escalate("nurse_transfer"), "Triage: warm transfer to a nurse now");
  safeShortcut("Alt+E", () => escalate("emergency_conference"), "Triage: conference the emergency number");
  safeShortcut("Alt+R", () => escalate("instruction_read"), "Triage: instruction read to the caller");
  safeShortcut("Alt+S", () => moveStep(1), "Script: next step");
}

wire();
