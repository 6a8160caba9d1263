// The follow-up desk: the work list (GET /api/careplans/followups), a follow-up's preview (patient summary
// and questionnaire, before any call), the call through the console's click-to-dial from this user's desk,
// the outcome and a reschedule. Patient data only ever goes into textContent.
import { api } from "/static/console.js";

const $ = (id) => document.getElementById(id);
let selected = null;    // the follow-up shown in the preview
let lastCall = null;    // the call placed for it from here

function filters() {
  const params = new URLSearchParams({ view: $("fu-view").value });
  if ($("fu-department").value.trim()) params.set("department", $("fu-department").value.trim());
  if ($("fu-plan").value) params.set("plan", $("fu-plan").value);
  return params;
}

function show(id, text) {
  $(id).textContent = text;
  $(id).hidden = !text;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function row(item) {
  const tr = document.createElement("tr");
  tr.dataset.id = item.id;
  tr.classList.toggle("overdue", item.overdue);
  tr.setAttribute("aria-selected", String(selected === item.id));
  const name = document.createElement("button");
  name.type = "button";
  name.className = "link";
  name.textContent = item.patient.name;
  name.addEventListener("click", () => preview(item.id));
  const who = document.createElement("td");
  who.append(name, ` · ${item.patient.mrn}`);
  tr.append(cell(item.due_local), who, cell(item.plan.condition), cell(item.plan.department),
            cell(item.status), cell(String(item.tries)));
  return tr;
}

async function load() {
  show("fu-error", "");
  try {
    const { followups } = await api("GET", `/api/careplans/followups?${filters()}`);
    $("fu-list").replaceChildren(...followups.map(row));
    $("fu-empty").hidden = followups.length > 0;
  } catch (error) {
    show("fu-error", error.message);
  }
}

function listText(items, text) {
  return items.length ? items.map(text).join(", ") : "none recorded";
}

async function preview(id) {
  show("fu-error", "");
  try {
    const shown = await api("GET", `/api/careplans/followups/${id}`);
    selected = id;
    lastCall = null;
    fill(shown);
    $("fu-preview").hidden = false;
    for (const tr of $("fu-list").children) tr.setAttribute("aria-selected", String(tr.dataset.id == id));
  } catch (error) {
    show("fu-error", error.message);
  }
}

function fill({ followup, plan, patient, questionnaire }) {
  $("fu-patient-name").textContent = patient.name;
  $("fu-patient-line").textContent = `MRN ${patient.mrn} · born ${patient.date_of_birth} · ${patient.language}`;
  $("fu-plan-line").textContent = `${plan.condition} (${plan.kind}), ${plan.department}; due ${followup.due_local}` +
    `, try ${followup.tries + 1}`;
  const phone = patient.phones.find((p) => p.is_primary) || patient.phones[0];
  $("fu-phone").textContent = phone ? phone.e164 : "no phone number";
  $("fu-allergies").textContent = listText(patient.allergies, (a) => a.substance);
  $("fu-conditions").textContent = listText(patient.conditions, (c) => c.name);
  $("fu-questionnaire-title").textContent = `${questionnaire.title} (version ${questionnaire.version})`;
  $("fu-review").textContent = questionnaire.review_status;
  $("fu-questions").replaceChildren(...questionnaire.questions.map((q) => {
    const li = document.createElement("li");
    li.textContent = q.text;
    return li;
  }));
  $("fu-call-status").textContent = "";
}

async function call() {
  show("fu-error", "");
  $("btn-fu-call").disabled = true;
  try {
    const placed = await api("POST", `/api/careplans/followups/${selected}/dial`, {});
    lastCall = placed.call_id;
    $("fu-call-status").textContent = `Calling from desk ${placed.desk}: answer your phone`;
  } catch (error) {
    show("fu-error", error.message);
  } finally {
    $("btn-fu-call").disabled = false;
  }
}

async function outcome(event) {
  event.preventDefault();
  show("fu-error", "");
  const body = { outcome: $("fu-outcome").value };
  if (lastCall) body.call_id = lastCall;
  try {
    const result = await api("POST", `/api/careplans/followups/${selected}/outcome`, body);
    show("fu-message", `Follow-up ${result.id}: ${result.status.replace("_", " ")}`);
    $("fu-preview").hidden = true;
    await load();
  } catch (error) {
    show("fu-error", error.message);
  }
}

async function reschedule(event) {
  event.preventDefault();
  show("fu-error", "");
  try {
    const result = await api("POST", `/api/careplans/followups/${selected}/reschedule`, { when: $("fu-when").value });
    show("fu-message", `Follow-up ${result.id} rescheduled to ${result.due_local}`);
    $("fu-preview").hidden = true;
    await load();
  } catch (error) {
    show("fu-error", error.message);
  }
}

$("fu-filters").addEventListener("submit", (event) => { event.preventDefault(); load(); });
$("btn-fu-call").addEventListener("click", call);
$("fu-outcome-form").addEventListener("submit", outcome);
$("fu-reschedule-form").addEventListener("submit", reschedule);
load();
