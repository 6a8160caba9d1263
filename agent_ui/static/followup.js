// The agent-guided follow-up questionnaire on the agent desk (issue 16): the agent picks a questionnaire for
// the call, reads each question and clicks or types the answer. agent.js forwards the desk's websocket
// messages as "desk:message" events. A red-flag answer governs the call as a triage red flag does: this
// module asks the red-flag checklist (triage.js) to refresh, and its escalation buttons do the rest.
import { api } from "/static/console.js";
import { renderForm } from "/static/followup_form.js";

const root = document.getElementById("desk");
const desk = root ? root.dataset.desk : "";
const $ = (id) => document.getElementById(id);
const f$ = { callId: null, catalogue: [] };

function fail(message) {
  $("followup-error").textContent = message;
  $("followup-error").hidden = !message;
}

function onMessage(event) {
  const message = event.detail;
  if (message.type === "screen_pop" && message.call_id !== f$.callId) open(message.call_id);
  else if (message.type === "hello") open(null);
  else if (message.type === "call_state" && message.state === "ended" && message.call_id === f$.callId) ended();
  else if (message.type === "agent_state" && ["available", "logged_out", "paused"].includes(message.agent.state)) close();
}

// A pop, a reload or a reconnect: the server knows the desk's call and the form started on it.
async function open(callId) {
  let state;
  try { state = await api("GET", `/api/agents/${desk}/followup`); } catch (error) { return; } // no call
  if (callId && state.call_id !== callId) return;
  f$.callId = state.call_id;
  $("followup").hidden = false;
  await loadCatalogue();
  render(state);
}

// The caller hung up: what was answered stays; the questions not asked cannot be answered any more.
function ended() {
  for (const control of $("followup").querySelectorAll("#followup-items button, #followup-items input, "
    + "#followup-items textarea, #followup-pick button")) control.disabled = true;
  $("followup-ended").hidden = false;
}

function close() {
  f$.callId = null;
  $("followup").hidden = true;
  $("followup-ended").hidden = true;
  $("followup-items").replaceChildren();
  fail("");
}

async function loadCatalogue() {
  if (f$.catalogue.length) return;
  const data = await api("GET", "/api/followup/questionnaires");
  f$.catalogue = data.questionnaires;
  $("followup-questionnaire").replaceChildren(...f$.catalogue.map((q) => {
    const option = document.createElement("option");
    option.value = q.id;
    option.textContent = `${q.title} (v${q.version})`;
    return option;
  }));
}

function render(state, error = null) {
  const view = state.response;
  $("followup-pick").hidden = Boolean(view);
  $("followup-head").hidden = !view;
  if (!view) {
    // A call the follow-up desk dialed for a care plan: its questionnaire is chosen; any other may be.
    if (state.suggested) $("followup-questionnaire").value = state.suggested;
    $("followup-items").replaceChildren();
    return;
  }
  const q = view.questionnaire;
  $("followup-title").textContent = `${q.title} · v${q.version}`;
  $("followup-review").textContent = q.review_status;
  $("followup-done").hidden = !view.done;
  renderForm($("followup-items"), view, send, error);
}

async function start(event) {
  event.preventDefault();
  fail("");
  try {
    render(await api("POST", `/api/agents/${desk}/followup`, { questionnaire: $("followup-questionnaire").value }));
  } catch (error) { fail(error.message); }
}

async function send(code, value) {
  fail("");
  try {
    const state = await api("POST", `/api/agents/${desk}/followup/answer`, { question: code, value });
    render(state);
    if (state.red_flags && state.red_flags.length) {
      $("followup-flag").hidden = false;
      document.dispatchEvent(new CustomEvent("triage:refresh"));
    }
  } catch (error) {
    if (error.status !== 400) { fail(error.message); return; }
    // Refused as an answer to its question (out of range, not a date...): shown on that question's field.
    const state = await api("GET", `/api/agents/${desk}/followup`);
    render(state, { code, message: error.message, value });
  }
}

function wire() {
  if (!root) return;
  document.addEventListener("desk:message", onMessage);
  $("followup-pick").addEventListener("submit", start);
  open(null); // a reload mid-form: without waiting for the socket's hello
}

wire();
