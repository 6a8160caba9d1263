"""Who may use which route: ONE table, route name -> allowed roles.

Every route is registered with `name=`; the auth middleware looks its name up here on every request, and
`check_routes` (called by `init_app`) refuses to start when a route has no line, so a new route cannot be
forgotten. Adding a page or an API call = adding one line. tests/test_permissions.py walks every route for
every role and checks the answer against this table.

Besides the staff roles there are pseudo-roles:
- ANONYMOUS: no sign-in needed (and so anyone signed in may use it too);
- "api:<scope>": an API client (auth/clients.py: a machine presenting its Bearer secret) holding that scope;
  only for /api/* routes. A client may use a route when one of its scopes is on the route's line;
- API: any API client whatever its scopes (only the websocket ticket: the socket's own line decides).
"""
from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from ..db.models import USER_ROLES
from .exceptions import PermissionTableError

ROLES: tuple[str, ...] = USER_ROLES  # agent, nurse, supervisor, admin, relations
# The patient-relations team (issue 17): the tickets and what a ticket holds (its text, contact, scans, the
# events), every read audited; no desk, no call records, recordings, patient records, campaigns or KPIs.
RELATIONS = "relations"
ANONYMOUS = "anonymous"
API = "api"
STAFF = frozenset(ROLES)
# Roles that sit at a desk and take calls: they act on their own desk only (see `may_act_for_desk`).
DESK_ROLES = frozenset({"agent", "nurse"})
# All that a user whose password an admin set may do before choosing their own (besides public routes).
PASSWORD_CHANGE_ROUTES = frozenset({"account_password", "account_password_submit", "api_account_password",
                                    "logout"})
# Public routes a machine posts to with no session and no browser (an SMS gateway's callbacks), proving
# itself with a key its handler checks. A cross-site forgery rides on a victim's session, which these
# routes never read, so they are left out of the CSRF check that other public forms (sign-in) get.
MACHINE_CALLBACKS = frozenset({"sms_gateway_inbound"})
# What an API client may be given (`callcenter api-client add NAME --scope ...`): each scope is the
# pseudo-role "api:<scope>" in the table below. A new scope is a line here and its routes' lines.
SCOPES: dict[str, str] = {
    "status":        "agents, queues and the wallboard: states and counts",
    "calls":         "a call's record and events; the call on a channel (simulate-call)",
    "desk":          "drive desks: agent states, the desk socket (screen pops), call controls, dispositions",
    "triage":        "triage and red-flag escalation on a desk's call",
    "monitor":       "listen to or whisper into live calls",
    "campaigns":     "outbound campaigns: list, plan, run, reports",
    "campaign_edit": "save campaign definitions",
    "dnc":           "the do-not-call list",
    "kpi":           "KPI reports",
    "metrics":       "Prometheus metrics (counts and latencies only)",
    "webhooks":      "webhook subscriptions and their deliveries",
    "complaints":    "tickets: list, read (audited), create, workflow steps",
}

_TABLE: dict[str, set[str]] = {
    # -- public -------------------------------------------------------------------------------------------
    "health":               {ANONYMOUS},
    "static":               {ANONYMOUS},
    "login":                {ANONYMOUS},
    "login_submit":         {ANONYMOUS},
    # -- every signed-in user -----------------------------------------------------------------------------
    "logout":               set(STAFF),
    "home":                 set(STAFF),
    "account_password":     set(STAFF),   # one's own password (an API client has none)
    "account_password_submit": set(STAFF),
    "api_account_password": set(STAFF),
    # the API's OpenAPI document and docs page (issue 15, callcenter/openapi): no patient data, but the map of
    # the whole interface, so not for anonymous visitors
    "api_openapi":          set(STAFF) | {API},
    "api_docs":             set(STAFF),
    "api_docs_assets":      {ANONYMOUS},   # Swagger UI's own files
    # the SMS gateway's callbacks (issue 17, callcenter/sms/http.py): the gateway proves itself with a key
    "sms_gateway_inbound":  {ANONYMOUS},
    "sms_gateway_report":   {ANONYMOUS},
    "api_ws_ticket":        {API},   # a websocket ticket for a machine client (console users have cookies)
    # -- console pages ------------------------------------------------------------------------------------
    "agent_console":        {"agent", "nurse"},
    "supervisor_console":   {"supervisor", "admin"},
    "admin_console":        {"admin"},
    # -- admin view (callcenter/admin) ---------------------------------------------------------------------
    "admin_users":          {"admin"},
    "admin_user_create":    {"admin"},
    "admin_user":           {"admin"},
    "admin_user_role":      {"admin"},
    "admin_user_active":    {"admin"},
    "admin_user_password":  {"admin"},
    "admin_user_phone":     {"admin"},
    "admin_desks":          {"admin"},
    "admin_desk_create":    {"admin"},
    "admin_desk_new":       {"admin"},
    "admin_desk":           {"admin"},
    "admin_desk_update":    {"admin"},
    "admin_desk_delete":    {"admin"},
    "admin_queues":         {"admin"},
    "admin_queue_create":   {"admin"},
    "admin_queue_new":      {"admin"},
    "admin_queue":          {"admin"},
    "admin_queue_update":   {"admin"},
    "admin_audit":          {"admin"},
    "admin_audit_filter":   {"admin"},   # the filter form: a POST, so an MRN never goes into a URL
    "admin_audit_csv":      {"admin"},
    "admin_hl7":            {"admin"},   # the HL7 inbound log (issue 15)
    "admin_hl7_reapply":    {"admin"},
    "admin_imports":        {"admin"},   # CSV imports of patients, appointments, encounters (issue 15)
    "admin_import_run":     {"admin"},
    # -- webhooks (issue 15, callcenter/webhooks/http.py): subscriptions and deliveries --------------------
    "admin_webhooks":         {"admin"},
    "admin_webhook_create":   {"admin"},
    "admin_webhook":          {"admin"},
    "admin_webhook_update":   {"admin"},
    "admin_webhook_delete":   {"admin"},
    "admin_webhook_delivery": {"admin"},
    "admin_webhook_resend":   {"admin"},
    "api_webhooks":           {"admin", "api:webhooks"},
    "api_webhook_create":     {"admin", "api:webhooks"},
    "api_webhook":            {"admin", "api:webhooks"},
    "api_webhook_update":     {"admin", "api:webhooks"},
    "api_webhook_delete":     {"admin", "api:webhooks"},
    "api_webhook_deliveries": {"admin", "api:webhooks"},
    "api_webhook_delivery":   {"admin", "api:webhooks"},
    "api_webhook_resend":     {"admin", "api:webhooks"},
    # -- API ("api:<scope>": an API client with that scope, see SCOPES) ------------------------------------
    "api_agents":           {"supervisor", "admin", "api:status"},
    # desk roles: their own desk only
    "api_agent_state":      {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_agent_socket":     {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_queues":           {"agent", "nurse", "supervisor", "admin", "api:status"},
    "api_call":             {"agent", "nurse", "supervisor", "admin", "api:calls"},
    "api_call_find":        {"agent", "nurse", "supervisor", "admin", "api:calls"},  # ?channel=: simulate
    # -- supervision (issue 4): wallboard, recording review, live monitoring ---------------------------------
    "api_wallboard":        {"supervisor", "admin", "api:status"},
    "api_wallboard_socket": {"supervisor", "admin", "api:status"},
    "api_recordings":       {"supervisor", "admin"},
    "api_recording_play":   {"supervisor", "admin"},
    # only with a grant: from api_recording_play, or for patient relations complaint_recording's (the
    # recording of a ticket's own call)
    "api_recording_audio":  {"supervisor", "admin", RELATIONS},
    "api_call_monitor":     {"supervisor", "admin", "api:monitor"},
    "api_monitor_stop":     {"supervisor", "admin", "api:monitor"},
    "api_monitors":         {"supervisor", "admin", "api:monitor"},
    # -- agent desk (issue 4): desk roles on their own desk only (checked in callcenter/desk/http.py) -------
    "api_desk":               {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_desk_callbacks":     {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_desk_search":        {"agent", "nurse"},
    "api_desk_patient_view":  {"agent", "nurse"},
    "api_desk_disposition":   {"agent", "nurse", "api:desk"},
    "api_desk_tasks":         {"agent", "nurse", "supervisor", "admin", "api:desk"},  # dispositions owed
    "api_desk_release":       {"supervisor", "admin", "api:desk"},   # end a desk's wrap-up (audited)
    "api_disposition_tasks":  {"supervisor", "admin", "api:desk"},
    "api_disposition_task_complete": {"supervisor", "admin", "api:desk"},  # writes a desk's owed one
    # -- call controls (callcenter/calls/http.py): desk roles on the calls of their own desk only ---------
    "api_call_hold":              {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_call_unhold":            {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_call_hangup":            {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_call_survey":            {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_call_transfer":          {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_call_transfer_complete": {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_call_transfer_cancel":   {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_agent_dial":             {"agent", "nurse", "supervisor", "admin", "api:desk"},
    # -- triage and call scripts (issue 5, callcenter/triage/http.py): desk roles on their own desk only ---
    "api_triage_protocols":   {"agent", "nurse", "supervisor", "admin", "api:triage"},
    "api_triage":             {"agent", "nurse", "supervisor", "admin", "api:triage"},
    "api_triage_start":       {"agent", "nurse", "api:triage"},
    "api_triage_answer":      {"agent", "nurse", "api:triage"},
    "api_triage_reason":      {"agent", "nurse", "api:triage"},  # the call's reason: ranks the protocols
    "api_triage_age":         {"agent", "nurse", "api:triage"},  # the caller's age, before the questions
    "api_triage_script":      {"agent", "nurse"},   # merges patient fields: audited, a person must be named
    # -- follow-up questionnaires (issue 16, callcenter/followup/http.py) ---------------------------------
    "api_followup_questionnaires": {"agent", "nurse", "supervisor", "admin"},
    "api_followup_desk":          {"agent", "nurse"},   # the form on the desk's call: own desk only
    "api_followup_desk_start":    {"agent", "nurse"},
    "api_followup_desk_answer":   {"agent", "nurse"},   # an answer names the agent who gave it
    "followup_paper":             {"agent", "nurse", "supervisor", "admin"},
    "api_followup_paper_start":   {"agent", "nurse", "supervisor", "admin"},
    "followup_response":          {"agent", "nurse", "supervisor", "admin"},
    "followup_sheet_pdf":         {"agent", "nurse", "supervisor", "admin"},   # the patient's header: audited
    "api_followup_response":      {"agent", "nurse", "supervisor", "admin"},
    "api_followup_paper_answer":  {"agent", "nurse", "supervisor", "admin"},   # who typed it in
    # the designer: clinical content, for admins and nurses (the clinical role; no clinical-lead role exists)
    "followup_designer":          {"nurse", "admin"},
    "api_followup_designer":      {"nurse", "admin"},
    "api_followup_designer_draft": {"nurse", "admin"},
    "api_followup_designer_save": {"nurse", "admin"},   # a new version, audited
    # -- red-flag escalation and the call's triage record (issue 5, callcenter/triage/http.py) -------------
    "api_triage_escalate":    {"agent", "nurse", "api:triage"},  # own desk only
    "api_triage_escalate_complete": {"agent", "nurse", "api:triage"},
    "api_triage_override":    {"nurse"},   # the wrap-up rule is lifted by a nurse, with a written reason
    # The agent who took the call also sees it (checked in the view: a desk role sees its own desk's calls).
    "call_detail":            {"agent", "nurse", "supervisor", "admin"},
    "call_triage_json":       {"agent", "nurse", "supervisor", "admin"},
    "call_triage_csv":        {"agent", "nurse", "supervisor", "admin"},
    # -- campaign JSON API (issue 6, callcenter/campaigns/http.py): runs and reports for supervisors,
    #    edits admin
    "api_campaigns":           {"supervisor", "admin", "api:campaigns"},
    "api_campaign_plan":       {"supervisor", "admin", "api:campaigns"},
    "api_campaign_run":        {"supervisor", "admin", "api:campaigns"},
    "api_campaign_report":     {"supervisor", "admin", "api:campaigns"},
    "api_campaign_report_csv": {"supervisor", "admin", "api:campaigns"},
    "api_campaign_save":       {"admin", "api:campaign_edit"},
    "api_dnc":                 {"admin", "api:dnc"},
    "api_dnc_add":             {"admin", "api:dnc"},
    "api_dnc_import":          {"admin", "api:dnc"},
    "api_dnc_remove":          {"admin", "api:dnc"},
    # -- campaign console (issue 6, callcenter/campaigns/console_http.py): progress for supervisors,
    #    editing for admins
    "campaigns":              {"supervisor", "admin"},
    "campaign":               {"supervisor", "admin"},
    "campaign_csv":           {"supervisor", "admin"},
    "campaign_run":           {"supervisor", "admin"},
    "campaign_edit":          {"admin"},
    "campaign_save":          {"admin"},
    "campaign_enabled":       {"admin"},
    "campaign_dnc":           {"admin"},
    "campaign_dnc_add":       {"admin"},
    "campaign_dnc_remove":    {"admin"},
    # KPIs (issue 7): the dashboard page, its JSON and the same report as CSV (callcenter/kpi/http.py)
    "kpi_page":               {"supervisor", "admin"},
    "api_kpi":                {"supervisor", "admin", "api:kpi"},
    "api_kpi_csv":            {"supervisor", "admin", "api:kpi"},
    # care plans and the follow-up desk (issue 16, callcenter/careplans): which follow-ups a desk role sees is
    # the service's rule (agents: the agent channel's; nurses: those too and the ones escalated to them)
    "followup_desk":          {"agent", "nurse", "supervisor", "admin"},
    "api_careplan_followups": {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_careplan_followup":  {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_careplan_followup_dial": {"agent", "nurse", "supervisor", "admin"},   # from one's own desk
    "api_careplan_followup_outcome": {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_careplan_followup_reschedule": {"agent", "nurse", "supervisor", "admin", "api:desk"},
    "api_careplan_enrol":     {"nurse", "supervisor", "admin"},
    "api_careplan_end":       {"nurse", "supervisor", "admin"},
    "api_careplans_plan":     {"supervisor", "admin", "api:campaigns"},
    "api_patient_careplans":  {"nurse", "supervisor", "admin"},
    # Follow-up performance reports (issue 16): the catalogue, each report's page, JSON, CSV and PDF
    # (callcenter/reports/http.py). The overdue list names patients: staff who judge performance only.
    "reports_page":           {"supervisor", "admin"},
    "report_page":            {"supervisor", "admin"},
    "api_report":             {"supervisor", "admin"},
    "api_report_csv":         {"supervisor", "admin"},
    "api_report_pdf":         {"supervisor", "admin"},
    # -- tickets (issue 17, callcenter/complaints/http.py): the public web form for anyone; the queue, the
    #    handler console and letter entry for the patient-relations team (role relations; supervisors and
    #    admins too, who oversee it); a ticket opened from a call by the desk that has it (own desk only,
    #    checked in the view)
    "complaint_form":         {ANONYMOUS},
    "complaint_form_submit":  {ANONYMOUS},
    "complaints_queue":       {RELATIONS, "supervisor", "admin"},
    "complaint_page":         {RELATIONS, "supervisor", "admin"},   # audited: contact and text: patient data
    "complaint_step":         {RELATIONS, "supervisor", "admin"},
    "complaint_letter":       {RELATIONS, "supervisor", "admin"},
    "complaint_letter_submit": {RELATIONS, "supervisor", "admin"},
    "complaint_attachment":   {RELATIONS, "supervisor", "admin"},   # audited
    "complaint_recording":    {RELATIONS, "supervisor", "admin"},   # the ticket's call only; audited
    "api_call_complaint":     {"agent", "nurse", "supervisor", "admin", "api:desk"},
    # the tickets' JSON API: what the console does, for the team and API clients with the complaints scope
    "api_complaints":         {RELATIONS, "supervisor", "admin", "api:complaints"},
    "api_complaint":          {RELATIONS, "supervisor", "admin", "api:complaints"},   # audited
    "api_complaint_create":   {RELATIONS, "supervisor", "admin", "api:complaints"},
    "api_complaint_step":     {RELATIONS, "supervisor", "admin", "api:complaints"},
    # Prometheus (issue 12, callcenter/metrics): counts and latencies only, no patient data; the scraper
    # is an API client with the metrics scope, an admin may look
    "api_metrics":            {"admin", "api:metrics"},
}

PERMISSIONS: dict[str, frozenset[str]] = {name: frozenset(roles) for name, roles in _TABLE.items()}


def scope_role(scope: str) -> str:
    """The pseudo-role of a scope in the table: "api:<scope>"."""
    return f"{API}:{scope}"


SCOPE_ROLES = frozenset(scope_role(scope) for scope in SCOPES)


def allowed(route_name: str | None, role: str) -> bool:
    """May `role` (a staff role, ANONYMOUS, API or a scope's pseudo-role) use the route? Unknown routes:
    nobody. Public routes: anyone but a machine client (its secret means nothing outside /api/*)."""
    roles = PERMISSIONS.get(route_name or "")
    if roles is None:
        return False
    return role in roles or (ANONYMOUS in roles and role != API and role not in SCOPE_ROLES)


def client_allowed(route_name: str | None, scopes: Iterable[str]) -> bool:
    """May an API client holding `scopes` use the route: the line names any client, or one of its scopes?"""
    return any(allowed(route_name, role) for role in (API, *map(scope_role, scopes)))


def is_public(route_name: str | None) -> bool:
    return ANONYMOUS in PERMISSIONS.get(route_name or "", ())


def may_act_for_desk(role: str | None, own_desk: str | None, desk: str) -> bool:
    """The own-desk rule (object level, under the table): an agent or nurse acts on their own desk only (one
    without a desk on none); web/request.py applies it to requests, CallControls to a live call's desk."""
    return role not in DESK_ROLES or (bool(own_desk) and own_desk == desk)


def check_routes(router: web.UrlDispatcher, table: dict[str, frozenset[str]] | None = None) -> None:
    """Raise PermissionTableError unless every route has a name and a well-formed line in the table."""
    table = PERMISSIONS if table is None else table
    problems = [*_line_problems(table), *_route_problems(router.resources(), table)]
    if problems:
        raise PermissionTableError("; ".join(problems) + " (see callcenter/auth/permissions.py)")


def _line_problems(table: dict[str, frozenset[str]]) -> Iterable[str]:
    known = STAFF | {ANONYMOUS, API} | SCOPE_ROLES
    for name, roles in table.items():
        if not roles or not roles <= known:
            yield f"route {name!r}: roles must be a non-empty subset of {sorted(known)}, got {sorted(roles)}"


def _route_problems(resources: Iterable[web.AbstractResource], table: dict) -> Iterable[str]:
    for resource in resources:
        path = resource.canonical
        if resource.name is None:
            yield f"route {path} has no name= (every route needs one, for the permission table)"
        elif resource.name not in table:
            yield f"route {resource.name!r} ({path}) has no line in the permission table"
        elif table[resource.name] & ({API} | SCOPE_ROLES) and not path.startswith("/api/"):
            yield f"route {resource.name!r} ({path}): API clients are only for /api/* routes"
