// The follow-up desk: the work list (GET /api/careplans/followups), a follow-up's preview (patient summary
// and questionnaire, before any call), the call through the console's click-to-dial from this user's desk,
// the outcome and a reschedule; for nurses, supervisors and admins, ending the plan and enrolling a patient
// (POST /api/careplans: each problem answered as "FIELD: what" is shown on its field). Patient data only ever
// goes into textContent.
import { api } from "/static/console.js";

const $ = (id) => document.getElementById(id);
let selected = null;    // the follow-up shown in the preview
let lastCall = null;    // the call placed for it from here
let shownPlan = null;   // its care plan

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
  shownPlan = plan.id;
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

async function endPlan(event) {
  event.preventDefault();
  show("fu-error", "");
  try {
    const ended = await api("POST", `/api/careplans/${shownPlan}/end`, { reason: $("fu-end-reason").value });
    show("fu-message", `Care plan ${ended.plan_id} ended: its open follow-ups are withdrawn`);
    $("fu-preview").hidden = true;
    await load();
  } catch (error) {
    show("fu-error", error.message);
  }
}

// -- enrolment ------------------------------------------------------------------------------------------------

const FIELD_ALIASES = { patient_id: "mrn" };

function schedule() {
  const kind = $("ep-schedule-kind").value;
  if (kind === "monthly") return "monthly";
  if (kind === "rrule") return $("ep-rrule").value.trim();
  return `every ${$("ep-every").value || "?"} days`;
}

function enrolment() {
  const tries = $("ep-tries").value;
  const body = {
    mrn: $("ep-mrn").value.trim(), kind: $("ep-kind").value, condition: $("ep-condition").value,
    department: $("ep-department").value, starts_on: $("ep-starts").value, schedule: schedule(),
    questionnaire: $("ep-questionnaire").value, channel: $("ep-channel").value,
    nurse_user_id: Number($("ep-nurse").value), max_tries: tries === "" ? null : Number(tries),
  };
  if ($("ep-ends").value) body.ends_on = $("ep-ends").value;
  if (body.channel === "automated") body.campaign = $("ep-campaign").value.trim();
  return body;
}

function clearProblems() {
  show("ep-error", "");
  for (const field of document.querySelectorAll(".ep-field")) {
    field.classList.remove("invalid");
    setText(field.querySelector(".field-error"), "");
  }
}

function setText(element, text) {
  element.textContent = text;
  element.hidden = !text;
}

function showProblem(message) {
  const match = /^([a-z_]+): (.*)$/s.exec(message);
  const name = match && (FIELD_ALIASES[match[1]] || match[1]);
  const field = name && document.querySelector(`.ep-field[data-field="${name}"]`);
  if (!field) return show("ep-error", message);
  field.classList.add("invalid");
  setText(field.querySelector(".field-error"), match[2]);
  field.querySelector("input, select").focus();
}

let enrolling = false;   // a second click while the first is on its way sends nothing

async function enrol(event) {
  event.preventDefault();
  if (enrolling) return;
  enrolling = true;
  $("btn-ep-enrol").disabled = true;
  clearProblems();
  try {
    const made = await api("POST", "/api/careplans", enrolment());
    show("fu-message", `Care plan ${made.plan_id} enrolled: its follow-ups are planned from ${$("ep-starts").value}`);
    $("ep-form").reset();
    scheduleKind();
  } catch (error) {
    showProblem(error.message);
  } finally {
    enrolling = false;
    $("btn-ep-enrol").disabled = false;
  }
}

function scheduleKind() {
  $("ep-every-label").hidden = $("ep-schedule-kind").value !== "every";
  $("ep-rrule-label").hidden = $("ep-schedule-kind").value !== "rrule";
  $("ep-campaign-field").hidden = $("ep-channel").value !== "automated";
}

if ($("ep-form")) {
  $("ep-form").addEventListener("submit", enrol);
  $("ep-schedule-kind").addEventListener("change", scheduleKind);
  $("ep-channel").addEventListener("change", scheduleKind);
  $("fu-end-form").addEventListener("submit", endPlan);
}

$("fu-filters").addEventListener("submit", (event) => { event.preventDefault(); load(); });
$("btn-fu-call").addEventListener("click", call);
$("fu-outcome-form").addEventListener("submit", outcome);
$("fu-reschedule-form").addEventListener("submit", reschedule);
load();
