"""Questionnaires delivered by an agent on the console during a call, and on paper (issue 16).

On the desk (own desk only, the call on the desk's line; answers recorded with channel `console`, the
agent's user id and the call id, so the call's recording goes with them):

- GET  /api/followup/questionnaires            {questionnaires: [{id, title, version, kind}]}
- GET  /api/agents/{number}/followup           {call_id, response, suggested}: the form of the desk's call
                                               (response: see QuestionnaireService.response_view; null before
                                               one is started; a reload finds it again); suggested: the
                                               questionnaire of the care plan the call was dialed for
- POST /api/agents/{number}/followup           {"questionnaire": "copd"}: start it on the call -> same shape
- POST /api/agents/{number}/followup/answer    {"question": CODE, "value": ...} -> same shape with
                                               `red_flags`; a red flag writes the call's triage disposition,
                                               so the triage panel offers its escalation (red_flag_fact)

On paper (a response with channel `paper`; answers typed in later name who typed them and when):

- GET  /followup/paper                         the page to print a sheet: questionnaire and patient MRN
- POST /api/followup/paper                     {"questionnaire": ..., "mrn": ...} -> {response_id}
- GET  /followup/responses/{id}                the page to type a sheet's answers in
- GET  /followup/responses/{id}/sheet.pdf      the sheet (PDF, WeasyPrint): the patient's header is a
                                               read of the record, audited
- GET  /api/followup/responses/{id}            the response's form (no patient data)
- POST /api/followup/responses/{id}/answers    {"question": CODE, "value": ...}: a typed answer

An answer that does not fit its question is refused with {"error": "CODE: ..."} (400), shown on its field.

The designer (admins and nurses), followup/designer.py:

- GET  /followup/designer                      the page
- GET  /api/followup/designer                  {bank, questionnaires, kinds, types, operators, dispositions,
                                               languages}: what a draft is built from
- GET  /api/followup/designer/{code}           the current version as a draft (to make the next version)
- POST /api/followup/designer                  a draft -> 201 {id, version, review_status, new_questions}, or
                                               400 {error, problems: [{field, message}]} from the files'
                                               validator, each problem on its field
"""
from __future__ import annotations

import asyncio

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import select

from ..db.models import Patient
from ..errors import Refused
from ..triage.services import confirmed_patient
from ..vocabulary import ENDED
from ..web.pdffile import pdf_of, pdf_response
from ..web.request import audit_actor, json_object, own_desk_agent, services, user_id
from ..web.templating import render
from .designer import DraftInvalid, bank_view, draft_of
from .schema import KINDS, OPERATORS, RED_FLAG_ESCALATIONS, TYPES
from .services import AGENT, AnswerGiven, QuestionnaireService, red_flag_fact

CONSOLE, PAPER = "console", "paper"


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/followup/questionnaires", questionnaires, name="api_followup_questionnaires")
    app.router.add_get("/api/agents/{number}/followup", desk_form, name="api_followup_desk")
    app.router.add_post("/api/agents/{number}/followup", desk_start, name="api_followup_desk_start")
    app.router.add_post("/api/agents/{number}/followup/answer", desk_answer, name="api_followup_desk_answer")
    app.router.add_get("/followup/paper", paper_page, name="followup_paper")
    app.router.add_post("/api/followup/paper", paper_start, name="api_followup_paper_start")
    app.router.add_get("/followup/responses/{response_id:\\d+}", response_page, name="followup_response")
    app.router.add_get("/followup/responses/{response_id:\\d+}/sheet.pdf", sheet_pdf,
                       name="followup_sheet_pdf")
    app.router.add_get("/api/followup/responses/{response_id:\\d+}", response_json,
                       name="api_followup_response")
    app.router.add_post("/api/followup/responses/{response_id:\\d+}/answers", paper_answer,
                        name="api_followup_paper_answer")
    app.router.add_get("/followup/designer", designer_page, name="followup_designer")
    app.router.add_get("/api/followup/designer", designer_options, name="api_followup_designer")
    app.router.add_get("/api/followup/designer/{code}", designer_draft, name="api_followup_designer_draft")
    app.router.add_post("/api/followup/designer", designer_save, name="api_followup_designer_save")


def _questionnaires(request: web.Request) -> QuestionnaireService:
    return services(request).questionnaires


async def questionnaires(request: web.Request) -> web.Response:
    return web.json_response({"questionnaires": await _questionnaires(request).catalogue()})


# -- on the desk, during a call ----------------------------------------------------------------------------

def _desk_call(request: web.Request):
    """(agent, call) of the desk in the URL: 403 for another desk, 409 when no call is on its line."""
    agent = own_desk_agent(request)
    call = services(request).router.find(agent.call_id) if agent.call_id else None
    # Ending counts as gone: the questions are asked on the call, an answer after it would be no one's.
    if call is None or getattr(getattr(call, "state", None), "name", None) == ENDED:
        raise Refused(409, "no call on this desk")
    return agent, call


async def _desk_state(request: web.Request, call, **extra) -> web.Response:
    forms = _questionnaires(request)
    response_id = await forms.response_of_call(call.id, CONSOLE)
    view = await forms.response_view(response_id, call.language) if response_id else None
    suggested = None if view else await forms.suggested_for_call(call.id)
    return web.json_response({"call_id": call.id, "response": view, "suggested": suggested} | extra)


async def desk_form(request: web.Request) -> web.Response:
    _, call = _desk_call(request)
    return await _desk_state(request, call)


async def desk_start(request: web.Request) -> web.Response:
    _, call = _desk_call(request)
    code = (await json_object(request, '{"questionnaire": "copd"}')).get("questionnaire")
    if not isinstance(code, str):
        raise Refused(400, "'questionnaire' names the questionnaire to start")
    forms = _questionnaires(request)
    if await forms.response_of_call(call.id, CONSOLE):
        raise Refused(409, "a questionnaire is already being filled on this call")
    patient_id = await services(request).db.run(_call_patient, call)
    await forms.start_response(code, channel=CONSOLE, patient_id=patient_id, call_id=call.id)
    return await _desk_state(request, call)


def _call_patient(session, call) -> int | None:
    """The patient the agent confirmed on the call, else the call's one candidate."""
    confirmed = confirmed_patient(session, call.id)
    candidates = [p["id"] for p in call.patients]
    return confirmed or (candidates[0] if len(candidates) == 1 else None)


async def desk_answer(request: web.Request) -> web.Response:
    agent, call = _desk_call(request)
    forms = _questionnaires(request)
    response_id = await forms.response_of_call(call.id, CONSOLE)
    if response_id is None:
        raise Refused(409, "no questionnaire started on this call")
    question, value = await _answer_body(request)
    recorded = await forms.record_answer(AnswerGiven(response_id, question, value, CONSOLE, AGENT,
                                                     user_id(request), call.id))
    flags = [{"disposition": f.disposition, "escalation": f.escalation} for f in recorded.red_flags]
    if recorded.red_flags:
        await _escalate(request, call, agent, response_id, question, recorded.red_flags[0])
    return await _desk_state(request, call, red_flags=flags)


async def _escalate(request: web.Request, call, agent, response_id: int, code: str, flag) -> None:
    """The red flag governs the call as a triage protocol's would: the triage panel offers its escalation."""
    s = services(request)
    questionnaire = await _questionnaires(request).questionnaire_of(response_id)
    data = red_flag_fact(s.triage.ladder, questionnaire, code, flag)
    s.events.event(call.id, "triage_disposition", agent_id=agent.id, user_id=user_id(request),
                   response_id=response_id, **data)
    await s.events.flush()


async def _answer_body(request: web.Request) -> tuple[str, object]:
    body = await json_object(request, '{"question": "pain_score", "value": 3}')
    question = body.get("question")
    if not isinstance(question, str) or "value" not in body:
        raise Refused(400, "'question' (a question code) and 'value' are required")
    return question, body["value"]


# -- on paper ----------------------------------------------------------------------------------------------

async def paper_page(request: web.Request) -> web.Response:
    return await render(request, "followup_paper.html",
                        {"questionnaires": await _questionnaires(request).catalogue()})


async def paper_start(request: web.Request) -> web.Response:
    """A paper response for the patient of this MRN (in the body: patient data never goes in a URL)."""
    body = await json_object(request, '{"questionnaire": "copd", "mrn": "MRN-1"}')
    code, mrn = body.get("questionnaire"), body.get("mrn")
    if not isinstance(code, str) or not isinstance(mrn, str) or not mrn.strip():
        raise Refused(400, "'questionnaire' and the patient's 'mrn' are required")
    patient_id = await services(request).db.run(_patient_by_mrn, mrn.strip())
    if patient_id is None:
        raise Refused(404, "no patient with that MRN")
    response_id = await _questionnaires(request).start_response(code, channel=PAPER, patient_id=patient_id)
    return web.json_response({"response_id": response_id}, status=201)


def _patient_by_mrn(session, mrn: str) -> int | None:
    return session.scalar(select(Patient.id).where(Patient.mrn == mrn))


def _response_id(request: web.Request) -> int:
    return int(request.match_info["response_id"])


async def _paper_view(request: web.Request) -> dict:
    view = await _questionnaires(request).response_view(_response_id(request))
    if view["channel"] != PAPER:
        raise Refused(404, "no paper sheet with that number")
    return view


async def response_page(request: web.Request) -> web.Response:
    view = await _paper_view(request)
    return await render(request, "followup_response.html", {"response_id": view["response_id"],
                                                             "title": view["questionnaire"]["title"]})


async def response_json(request: web.Request) -> web.Response:
    return web.json_response(await _paper_view(request))


async def paper_answer(request: web.Request) -> web.Response:
    view = await _paper_view(request)
    question, value = await _answer_body(request)
    given = AnswerGiven(view["response_id"], question, value, PAPER, AGENT, user_id(request))
    await _questionnaires(request).record_answer(given)
    return web.json_response(await _paper_view(request))


async def sheet_pdf(request: web.Request) -> web.Response:
    view = await _paper_view(request)
    header = await _questionnaires(request).patient_header(view["response_id"], audit_actor(request))
    html = aiohttp_jinja2.render_string("followup_sheet.html", request, {"form": view, "patient": header})
    # WeasyPrint takes a CPU for a moment: not on the event loop that carries the calls.
    pdf = await asyncio.get_running_loop().run_in_executor(None, pdf_of, html)
    return pdf_response(pdf, f"followup-sheet-{view['response_id']}.pdf", inline=True)


# -- the designer (admins and nurses: the clinical role) ----------------------------------------------------

def _file_bank(request: web.Request):
    """The question bank this server loaded at start ([followup] bank_file: the hospital's own, or the
    shipped example): the designer adds to it, never changes it."""
    return services(request).question_bank


async def designer_page(request: web.Request) -> web.Response:
    return await render(request, "followup_designer.html", {})


async def designer_options(request: web.Request) -> web.Response:
    """What the designer picks from: the bank (with questions added by the designer before), the stored
    questionnaires, and the words of the schema and the triage ladder."""
    bank = await _questionnaires(request).designer_bank(_file_bank(request))
    ladder = services(request).triage.ladder
    rungs = [{"id": r.id, "label": r.label.get("en", r.id),
              "escalations": [e for e in r.satisfied_by if e in RED_FLAG_ESCALATIONS]}
             for r in ladder.dispositions.values() if r.escalation_required]
    catalogue = await _questionnaires(request).catalogue()
    return web.json_response({"bank": bank_view(bank), "questionnaires": catalogue,
                              "kinds": list(KINDS), "types": list(TYPES), "operators": OPERATORS,
                              "dispositions": rungs, "languages": list(bank.languages)})


async def designer_draft(request: web.Request) -> web.Response:
    """The current version of a stored questionnaire, as the starting point of a new version."""
    forms = _questionnaires(request)
    _, questionnaire = await forms.current(request.match_info["code"])
    return web.json_response(draft_of(questionnaire))


async def designer_save(request: web.Request) -> web.Response:
    draft = await json_object(request, '{"id": "...", "version": "2", "questions": [...]}')
    try:
        design = await _questionnaires(request).save_design(
            draft, _file_bank(request), user_id=user_id(request), ladder=services(request).triage.ladder)
    except DraftInvalid as exc:
        problems = [{"field": p.field, "message": p.message} for p in exc.problems]
        return web.json_response({"error": "the questionnaire has problems: see each field",
                                  "problems": problems}, status=400)
    q = design.questionnaire
    return web.json_response({"id": q.id, "version": q.version, "review_status": q.review_status,
                              "new_questions": list(design.new_codes)}, status=201)
