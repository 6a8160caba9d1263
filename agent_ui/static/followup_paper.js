// Paper follow-up sheets (issue 16): create a sheet for a patient (the MRN goes in a POST body, never a URL),
// then type its answers in with the same form as the desk (followup_form.js), as channel "paper".
import { api } from "/static/console.js";
import { renderForm } from "/static/followup_form.js";

const $ = (id) => document.getElementById(id);

function fail(message) {
  $("paper-error").textContent = message;
  $("paper-error").hidden = !message;
}

async function create(event) {
  event.preventDefault();
  fail("");
  try {
    const made = await api("POST", "/api/followup/paper",
      { questionnaire: $("paper-questionnaire").value, mrn: $("paper-mrn").value });
    window.location.assign(`/followup/responses/${made.response_id}`);
  } catch (error) { fail(error.message); }
}

function sheet() {
  const id = $("paper-sheet").dataset.response;
  const url = `/api/followup/responses/${id}`;
  const render = (view, error = null) => {
    $("paper-done").hidden = !view.done;
    renderForm($("paper-items"), view, send, error);
  };
  async function send(code, value) {
    fail("");
    try { render(await api("POST", `${url}/answers`, { question: code, value })); } catch (error) {
      if (error.status !== 400) { fail(error.message); return; }
      render(await api("GET", url), { code, message: error.message, value });
    }
  }
  api("GET", url).then((view) => render(view), (error) => fail(error.message));
}

if ($("paper-new")) $("paper-new").addEventListener("submit", create);
if ($("paper-sheet")) sheet();
