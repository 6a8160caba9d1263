// A follow-up questionnaire as a form (issue 16): one renderer for the agent desk (followup.js, during a call)
// and the paper sheet's typing page (followup_paper.js). The server decides everything: which questions the
// skip logic shows given the answers so far, whether an answer fits its question (an error comes back for its
// field), and the red flags. Each answer is saved as it is given, so a reload shows the form as it was.

const LABEL_YES_NO = { true: "Yes", false: "No" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function answerText(item) {
  const value = item.answer;
  if (item.type === "yes_no") return LABEL_YES_NO[value];
  const choice = (key) => (item.choices.find((c) => c.key === key) || { text: key }).text;
  if (item.type === "single_choice") return choice(value);
  if (item.type === "multiple_choice") return value.map(choice).join(", ");
  return `${value}${item.unit ? " " + item.unit : ""}`;
}

function limitsText(item) {
  if (item.type === "scale" || item.type === "number") {
    return `${item.min} to ${item.max}${item.unit ? " " + item.unit : ""}`;
  }
  if (item.type === "date") return "YYYY-MM-DD";
  return "";
}

// The controls of an unanswered question: buttons answer at once, typed answers with Save (or Enter).
function controls(item, send) {
  const id = `fu-input-${item.code}`;
  if (item.type === "yes_no") {
    return el("div", { class: "row" },
      button("Yes", () => send(true), "answer-yes", "yes"), button("No", () => send(false), "answer-no", "no"));
  }
  if (item.type === "single_choice") {
    return el("div", { class: "row" }, ...item.choices.map((c) => button(c.text, () => send(c.key), "", c.key)));
  }
  if (item.type === "scale") {
    const keys = [];
    for (let n = item.min; n <= item.max; n += 1) keys.push(button(String(n), () => send(n), "scale-key"));
    return el("div", { class: "row scale" }, ...keys);
  }
  if (item.type === "multiple_choice") {
    const boxes = item.choices.map((c) => el("label", { class: "inline" },
      el("input", { type: "checkbox", value: c.key, name: id }), c.text));
    const save = button("Save", () => send([...document.querySelectorAll(`input[name="${id}"]:checked`)]
      .map((box) => box.value)), "button-primary");
    return el("div", { class: "row" }, ...boxes, save);
  }
  if (item.type === "recorded") return el("p", { class: "muted" }, "A spoken answer: asked by phone only.");
  const input = item.type === "free_text"
    ? el("textarea", { id, rows: "2", maxlength: String(item.max_length) })
    : el("input", { id, type: item.type === "date" ? "date" : "text",
      inputmode: item.type === "number" ? "decimal" : "text", autocomplete: "off" });
  input.setAttribute("aria-label", item.text);
  const save = () => send(input.value);
  if (input.tagName === "INPUT") input.addEventListener("keydown", (e) => { if (e.key === "Enter") save(); });
  return el("div", { class: "row" }, input,
    item.unit ? el("span", {}, item.unit) : null, button("Save", save, "button-primary"));
}

function button(text, onClick, extra = "", value = text) {
  const b = el("button", { type: "button", class: `button ${extra}`.trim(), "data-value": String(value) }, text);
  b.addEventListener("click", onClick);
  return b;
}

function itemNode(item, index, send, error) {
  const node = el("li", { class: "fu-item", "data-code": item.code, "data-shown": String(item.shown) });
  node.hidden = !item.shown;
  const limits = limitsText(item);
  node.append(el("p", { class: "fu-text" }, `${index + 1}. ${item.text}`,
    limits ? el("span", { class: "muted" }, ` (${limits})`) : null,
    item.required ? null : el("span", { class: "muted" }, " (optional)")));
  if (item.answered) {
    node.append(el("p", { class: "fu-answer" }, answerText(item)));
    if (item.red_flag) node.append(el("p", { class: "fu-red-flag" }, `Red flag: ${item.red_flag.disposition.replaceAll("_", " ")}`));
    return node;
  }
  node.append(controls(item, (value) => send(item.code, value)));
  const message = el("p", { class: "field-error", role: "alert", id: `fu-error-${item.code}` });
  message.hidden = !error;
  if (error) {
    // The field names the question already: the message without its code, the refused value kept to correct.
    message.textContent = error.message.replace(`${item.code}: `, "");
    const input = node.querySelector("input[type=text],input[type=date],textarea");
    if (input) {
      input.value = typeof error.value === "string" ? error.value : "";
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", message.id);
      input.focus({ preventScroll: true });
    }
  }
  node.append(message);
  return node;
}

// Renders `view` (QuestionnaireService.response_view) into `list`; `send(code, value)` posts one answer.
// `error` is {code, message, value} of the answer the server refused, shown on that question's field.
export function renderForm(list, view, send, error = null) {
  list.replaceChildren(...view.items.map((item, i) =>
    itemNode(item, i, send, error && error.code === item.code ? error : null)));
  const next = view.next && list.querySelector(`[data-code="${view.next}"]`);
  if (next) {
    next.classList.add("fu-next");
    const first = next.querySelector("input,textarea,button");
    if (first && !error) first.focus({ preventScroll: true });
  }
}
