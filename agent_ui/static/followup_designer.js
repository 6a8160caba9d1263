// The questionnaire designer (issue 16): build a questionnaire from the question bank and new questions, with
// skip logic and red flags, and save it as a new version. The server checks the draft with the same validator
// as the questionnaire files and answers each problem with the field it belongs to (questions.2.show_if, ...),
// shown beside that field.
import { api } from "/static/console.js";

const $ = (id) => document.getElementById(id);
const d$ = { options: null, draft: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function emptyDraft() {
  return { id: "", version: "1", title: { en: "", es: "" }, kind: d$.options.kinds[0], department: "", study: "",
    source: [], questions: [], new_questions: [] };
}

function options(select, values, chosen) {
  select.replaceChildren(...values.map(([value, text]) => {
    const option = el("option", { value }, text);
    if (String(value) === String(chosen)) option.selected = true;
    return option;
  }));
  return select;
}

function field(name, ...children) {
  return el("div", { class: "d-field", "data-field": name }, ...children, el("p", { class: "field-error", hidden: "" }));
}

function input(value, onInput, attrs = {}) {
  const node = el("input", { autocomplete: "off", ...attrs });
  node.value = value === null || value === undefined ? "" : String(value);
  node.addEventListener("input", () => onInput(node.value));
  return node;
}

function button(text, onClick, attrs = {}) {
  const node = el("button", { type: "button", class: "button", ...attrs }, text);
  node.addEventListener("click", onClick);
  return node;
}

// -- the header -----------------------------------------------------------------------------------------

function renderHeader() {
  const d = d$.draft;
  $("d-id").value = d.id || "";
  $("d-version").value = d.version || "";
  $("d-title-en").value = (d.title || {}).en || "";
  $("d-title-es").value = (d.title || {}).es || "";
  options($("d-kind"), d$.options.kinds.map((k) => [k, k.replaceAll("_", " ")]), d.kind);
  $("d-department").value = d.department || "";
  $("d-study").value = d.study || "";
  $("d-source").value = (d.source || []).join("\n");
}

function readHeader() {
  const d = d$.draft;
  const optional = (value) => value.trim() || null;
  Object.assign(d, { id: $("d-id").value.trim(), version: $("d-version").value.trim(),
    title: { en: $("d-title-en").value, es: $("d-title-es").value }, kind: $("d-kind").value,
    department: optional($("d-department").value), study: optional($("d-study").value),
    source: $("d-source").value.split("\n").map((s) => s.trim()).filter(Boolean) });
}

// -- the questions ----------------------------------------------------------------------------------------

function codes() { return d$.draft.questions.map((q) => q.code); }

function bankCodes() {
  return [...d$.options.bank.map((q) => [q.code, `${q.code}: ${q.text}`]),
    ...d$.draft.new_questions.filter((q) => q.code).map((q) => [q.code, `${q.code} (new)`])];
}

function renderQuestions() {
  $("d-questions").replaceChildren(...d$.draft.questions.map(questionNode));
  options($("d-bank"), bankCodes(), $("d-bank").value);
}

function questionNode(q, i) {
  const where = `questions.${i}`;
  const required = el("input", { type: "checkbox" });
  required.checked = q.required !== false;
  required.addEventListener("change", () => { q.required = required.checked; });
  const text = (d$.options.bank.find((b) => b.code === q.code) || { text: "(a new question)" }).text;
  return el("li", { "data-index": String(i), "data-code": q.code },
    field(`${where}.code`, el("div", { class: "row" }, el("strong", {}, q.code), el("span", { class: "muted" }, text),
      el("label", { class: "inline" }, required, "required"),
      button("Remove", () => { d$.draft.questions.splice(i, 1); renderQuestions(); }, { class: "button d-remove" }))),
    field(`${where}.show_if`, el("div", {}, el("span", { class: "muted" }, "Ask only if "),
      ...(q.show_if || []).map((c, k) => conditionNode(q, c, k)),
      button("Add condition", () => { q.show_if = [...(q.show_if || []), { question: codes()[0], op: "equals", value: "" }]; renderQuestions(); },
        { class: "button d-add-condition" }))),
    field(`${where}.red_flags`, el("div", {}, el("span", { class: "muted" }, "Red flags "),
      ...(q.red_flags || []).map((f, k) => redFlagNode(q, f, k)),
      button("Add red flag", () => { q.red_flags = [...(q.red_flags || []), { op: "equals", value: "", disposition: d$.options.dispositions[0].id, escalation: "" }]; renderQuestions(); },
        { class: "button d-add-flag" }))));
}

function valueText(value) { return Array.isArray(value) ? value.join(", ") : value; }
function valueOf(op, text) { return op === "in" ? text.split(",").map((s) => s.trim()).filter(Boolean) : text; }

function conditionNode(q, c, k) {
  const question = options(el("select", { class: "d-cond-question", "aria-label": "Earlier question" }),
    codes().map((code) => [code, code]), c.question);
  question.addEventListener("change", () => { c.question = question.value; });
  const op = options(el("select", { class: "d-cond-op", "aria-label": "Operator" }),
    Object.keys(d$.options.operators).map((o) => [o, o.replace("_", " ")]), c.op);
  op.addEventListener("change", () => { c.op = op.value; c.value = valueOf(c.op, valueText(c.value)); });
  const value = input(valueText(c.value), (text) => { c.value = valueOf(c.op, text); },
    { class: "d-cond-value", "aria-label": "Answer" });
  return el("div", { class: "row" }, question, op, value,
    button("×", () => { q.show_if.splice(k, 1); renderQuestions(); }, { "aria-label": "Remove condition" }));
}

function redFlagNode(q, f, k) {
  const op = options(el("select", { class: "d-flag-op", "aria-label": "When the answer" }),
    Object.keys(d$.options.operators).map((o) => [o, o.replace("_", " ")]), f.op);
  op.addEventListener("change", () => { f.op = op.value; f.value = valueOf(f.op, valueText(f.value)); });
  const value = input(valueText(f.value), (text) => { f.value = valueOf(f.op, text); },
    { class: "d-flag-value", "aria-label": "Answer" });
  const rung = options(el("select", { class: "d-flag-disposition", "aria-label": "Disposition" }),
    d$.options.dispositions.map((r) => [r.id, r.label]), f.disposition);
  const escalation = el("select", { class: "d-flag-escalation", "aria-label": "Escalation" });
  const escalations = () => {
    const found = d$.options.dispositions.find((r) => r.id === rung.value);
    options(escalation, (found ? found.escalations : []).map((e) => [e, e.replace("_", " ")]), f.escalation);
    f.disposition = rung.value;
    f.escalation = escalation.value;
  };
  rung.addEventListener("change", escalations);
  escalation.addEventListener("change", () => { f.escalation = escalation.value; });
  escalations();
  return el("div", { class: "row" }, op, value, rung, escalation,
    button("×", () => { q.red_flags.splice(k, 1); renderQuestions(); }, { "aria-label": "Remove red flag" }));
}

// -- new questions for the bank ----------------------------------------------------------------------------

function renderNew() {
  $("d-new").replaceChildren(...d$.draft.new_questions.map(newNode));
  options($("d-bank"), bankCodes(), $("d-bank").value);
}

function choicesText(choices) {
  return (choices || []).map((c) => `${c.key} | ${c.text.en || ""} | ${c.text.es || ""}`).join("\n");
}

function choicesOf(text) {
  return text.split("\n").map((line) => line.split("|").map((s) => s.trim())).filter((p) => p[0])
    .map(([key, en, es]) => ({ key, text: { en: en || "", es: es || "" } }));
}

function newNode(q, i) {
  const where = `new_questions.${i}`;
  const number = (value) => (value.trim() === "" || Number.isNaN(Number(value)) ? value.trim() || null : Number(value));
  const choices = el("textarea", { rows: "2", class: "d-new-choices", "aria-label": "Choices" });
  choices.value = choicesText(q.choices);
  choices.addEventListener("input", () => { q.choices = choicesOf(choices.value); });
  return el("li", { "data-index": String(i) },
    el("div", { class: "row" },
      field(`${where}.code`, el("label", {}, "Code ", input(q.code, (v) => { q.code = v.trim(); renderBankChoices(); }, { class: "d-new-code" }))),
      field(`${where}.type`, el("label", {}, "Type ", input(q.type, (v) => { q.type = v.trim(); }, { class: "d-new-type", list: "d-types" }))),
      button("Remove", () => { d$.draft.new_questions.splice(i, 1); renderNew(); })),
    field(`${where}.text`, el("label", {}, "Text (en) ", input(q.text.en, (v) => { q.text.en = v; }, { class: "d-new-text-en", size: "60" })),
      el("label", {}, "Text (es) ", input(q.text.es, (v) => { q.text.es = v; }, { class: "d-new-text-es", size: "60" }))),
    el("div", { class: "row" },
      field(`${where}.min`, el("label", {}, "Min ", input(q.min, (v) => { q.min = number(v); }, { class: "d-new-min", size: "5" }))),
      field(`${where}.max`, el("label", {}, "Max ", input(q.max, (v) => { q.max = number(v); }, { class: "d-new-max", size: "5" }))),
      field(`${where}.unit`, el("label", {}, "Unit ", input(q.unit, (v) => { q.unit = v.trim() || null; }, { class: "d-new-unit", size: "8" }))),
      field(`${where}.decimals`, el("label", {}, "Decimals ", input(q.decimals, (v) => { q.decimals = number(v); }, { class: "d-new-decimals", size: "3" })))),
    field(`${where}.choices`, el("label", {}, "Choices ", choices)));
}

function renderBankChoices() { options($("d-bank"), bankCodes(), $("d-bank").value); }

// -- loading and saving -------------------------------------------------------------------------------------

function clearProblems() {
  for (const node of document.querySelectorAll(".d-field")) {
    node.classList.remove("invalid");
    const message = node.querySelector(":scope > .field-error");
    if (message) { message.hidden = true; message.textContent = ""; }
  }
  $("d-error").hidden = true;
  $("d-saved").hidden = true;
}

function showProblems(problems) {
  const loose = [];
  for (const problem of problems) {
    const node = document.querySelector(`.d-field[data-field="${problem.field}"]`);
    const message = node && node.querySelector(":scope > .field-error");
    if (!message) { loose.push(problem.message); continue; }
    node.classList.add("invalid");
    message.textContent = message.textContent ? `${message.textContent} ${problem.message}` : problem.message;
    message.hidden = false;
  }
  $("d-error").textContent = loose.length ? loose.join(" ") : "The questionnaire has problems: see the fields marked.";
  $("d-error").hidden = false;
  const first = document.querySelector(".d-field.invalid");
  if (first) first.scrollIntoView({ block: "center" });
}

function render() {
  renderHeader();
  renderQuestions();
  renderNew();
}

async function load() {
  clearProblems();
  const code = $("d-from").value;
  if (!code) { d$.draft = emptyDraft(); render(); return; }
  try {
    d$.draft = await api("GET", `/api/followup/designer/${encodeURIComponent(code)}`);
    // The next version of it: a stored version never changes.
    const number = Number(d$.draft.version);
    d$.draft.version = Number.isInteger(number) ? String(number + 1) : `${d$.draft.version}-2`;
    render();
  } catch (error) { $("d-error").textContent = error.message; $("d-error").hidden = false; }
}

async function save(event) {
  event.preventDefault();
  readHeader();
  clearProblems();
  try {
    const saved = await api("POST", "/api/followup/designer", d$.draft);
    $("d-saved").textContent = `Saved: ${saved.id} version ${saved.version} (${saved.review_status}).`;
    $("d-saved").hidden = false;
    await refreshOptions();
  } catch (error) {
    if (error.status === 400 && error.body && error.body.problems) showProblems(error.body.problems);
    else { $("d-error").textContent = error.message; $("d-error").hidden = false; }
  }
}

async function refreshOptions() {
  d$.options = await api("GET", "/api/followup/designer");
  const from = $("d-from").value;
  options($("d-from"), [["", "a new questionnaire"], ...d$.options.questionnaires.map((q) => [q.id, `${q.title} (v${q.version})`])], from);
  if (!$("d-types")) {
    document.body.append(el("datalist", { id: "d-types" }, ...d$.options.types.map((t) => el("option", { value: t }))));
  }
}

async function start() {
  await refreshOptions();
  d$.draft = emptyDraft();
  render();
  $("btn-d-load").addEventListener("click", load);
  $("btn-d-add").addEventListener("click", () => {
    readHeader();
    d$.draft.questions.push({ code: $("d-bank").value, required: true, show_if: [], red_flags: [] });
    renderQuestions();
  });
  $("btn-d-new").addEventListener("click", () => {
    readHeader();
    d$.draft.new_questions.push({ code: "", type: "yes_no", text: { en: "", es: "" }, choices: [] });
    renderNew();
  });
  $("designer-form").addEventListener("submit", save);
  $("designer-form").hidden = false; // ready: typed before now, the first render would have wiped it
}

if ($("designer")) start();
