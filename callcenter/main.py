"""Builds the object graph (explicit wiring, no module-level singletons) and runs it inside aiohttp."""
from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass

from aiohttp import web

from .admin import http as admin_http
from .admin.services import AdminService
from .ari.client import AriClient
from .auth.services import Auth
from .callbacks.dialer import UrgentDialer
from .callbacks.services import CallbackService
from .callbacks.stasis import register as register_callback_role
from .calls import http as calls_http
from .calls.controls import CallControls
from .calls.services import CallDeps
from .calls.stasis import CallRouter
from .campaigns import console_http as campaign_console
from .campaigns import http as campaigns_http
from .campaigns.actions import CampaignActions
from .campaigns.catalog import CampaignCatalog
from .campaigns.dialing.automated import Dialer
from .campaigns.dialing.progressive import ProgressiveDialer
from .campaigns.dialing.stasis import register as register_campaign_roles
from .campaigns.dnc import DoNotCallList
from .campaigns.followup import DischargeFollowUp
from .campaigns.runs import CampaignRuns, default_worker
from .campaigns.scheduler import Scheduler
from .campaigns.services import CampaignService
from .careplans import http as careplans_http
from .careplans.scheduler import PlanningLoop
from .careplans.services import CarePlanService, PatientFollowUps
from .complaints import http as complaints_http
from .complaints import routing as complaint_routing
from .complaints.attachments import AttachmentStore
from .complaints.scheduler import EscalationJob
from .complaints.services import ComplaintService
from .complaints.voice import SummaryVoice
from .config import Config
from .db.database import Database
from .desk import http as desk_http
from .desk.access import RecentResults, ViewRate
from .desk.services import DeskService
from .eventlog import EventLog
from .fastagi.commands import build_server as build_fastagi
from .fastagi.server import FastAgiServer
from .followup import http as followup_http
from .followup.schema import Bank, load_bank
from .followup.services import QuestionnaireService
from .hl7 import http as hl7_http
from .hl7.listener import MllpListener, listen_address
from .hl7.services import Hl7Service
from .imports import commands as import_commands
from .imports import http as imports_http
from .imports.fhirpoll import FhirPollJob
from .imports.services import ImportService
from .ivr.catalog import load_catalog
from .ivr.flow import Flow
from .kpi import http as kpi_http
from .kpi.compute import KpiService
from .mail.outbox import MailNotices, MailWorker
from .mail.services import MailIntake
from .mail.services import Tickets as MailTickets
from .metrics import http as metrics_http
from .metrics.services import Metrics
from .openapi import http as openapi_http
from .patients.services import IdentityRule, PatientFeed
from .queues import http as queues_http
from .queues.services import QueueService
from .recording.services import RecordingService
from .reports import http as reports_http
from .reports.services import ReportService
from .review import http as review_http
from .review.services import ReviewService
from .screenpop.notifier import AgentNotifier
from .screenpop.services import ScreenPopService
from .selfservice.actions import SelfService, load_inbound_flow
from .sms import gateway as sms_gateway
from .sms import http as sms_http
from .sms import templates as sms_templates
from .sms.services import ComplaintDesk, SmsService
from .sms.worker import SmsWorker
from .supervision import http as supervision_http
from .supervision.services import MonitorService
from .triage import http as triage_http
from .triage.escalation import EscalationService
from .triage.services import TriageService
from .wallboard import http as wallboard_http
from .wallboard.services import WallboardService
from .web import signin
from .web.app import create_app
from .web.middlewares import AccessLogger
from .webhooks import http as webhooks_http
from .webhooks import outbox
from .webhooks.services import WebhookService
from .webhooks.worker import DeliveryWorker

PROMPTS_FILE = "ivr_flows/prompts.yaml"  # the prompt catalog: its voices speak tickets' summaries too
log = logging.getLogger(__name__)


@dataclass
class Services:
    cfg: Config
    db: Database
    ari: AriClient
    events: EventLog
    queues: QueueService
    notifier: AgentNotifier
    pops: ScreenPopService
    recordings: RecordingService
    router: CallRouter
    flows: dict[str, Flow]
    auth: Auth
    ari_task: asyncio.Task | None = None
    desk: DeskService | None = None  # the agent desk (issue 4): set by build()
    # supervision (issue 4): set by build()
    monitors: MonitorService | None = None
    wallboard: WallboardService | None = None
    review: ReviewService | None = None
    controls: CallControls | None = None  # call controls (issue 4): set by build()
    triage: TriageService | None = None  # red-flag triage and call scripts (issue 5): set by build()
    escalations: EscalationService | None = None  # red-flag escalations (issue 5): set by build()
    kpi: KpiService | None = None  # the KPI computation (issue 7): wallboard, reports, CSV, CLI
    reports: ReportService | None = None  # follow-up performance reports (issue 16): set by build()
    # outbound campaigns (issue 6): runs (plan, then the dialer of the mode), do-not-call list, scheduler
    campaign_runs: CampaignRuns | None = None
    dnc: DoNotCallList | None = None
    campaign_scheduler: Scheduler | None = None
    campaigns: CampaignService | None = None  # outbound campaigns (issue 6): set by build()
    progressive: "ProgressiveDialer | None" = None  # progressive campaigns (issue 6): set by build()
    dialer: "Dialer | None" = None  # automated campaigns (issue 6): set by build()
    metrics: Metrics | None = None  # Prometheus figures for /api/metrics (issue 12): set by build()
    callbacks: CallbackService | None = None  # the calls owed to patients (issue 13): set by build()
    urgent_dialer: UrgentDialer | None = None  # dials urgent callbacks at once (issue 13): set by build()
    fastagi: FastAgiServer | None = None  # FastAGI for the hospital's dialplan (issue 15): [fastagi] listen
    # webhooks (issue 15, events out): the admin's subscriptions and the delivery worker; set by build()
    webhooks: WebhookService | None = None
    webhook_worker: DeliveryWorker | None = None
    # the hospital's HL7 v2 ADT feed (issue 15): the interface, and its MLLP listener when [hl7] listen is set
    hl7: Hl7Service | None = None
    hl7_listener: MllpListener | None = None
    admin: AdminService | None = None  # the admin console's users, desks, queues, audit log: set by build()
    campaign_catalog: CampaignCatalog | None = None  # the campaign console's list: set by build()
    patients: PatientFeed | None = None  # the one patient feed of HL7 ADT and CSV imports (issue 15)
    imports: ImportService | None = None  # CSV imports through the patient feed (issue 15): set by build()
    fhir_poll: FhirPollJob | None = None  # polls [fhir] base_url when poll_interval_seconds is set (issue 15)
    # tickets from every channel (issue 17) and the job that escalates overdue ones: set by build()
    complaints: ComplaintService | None = None
    complaint_escalation: EscalationJob | None = None
    mail: MailIntake | None = None  # the complaints mailbox, polled when [mail] host is set (issue 17)
    mail_worker: MailWorker | None = None  # emails on tickets opened by email, when [mail] smtp_host is set
    # care plans and the follow-up desk (issue 16), and the server's planning of their follow-ups
    careplans: CarePlanService | None = None
    careplan_planning: PlanningLoop | None = None
    # follow-up questionnaires delivered on the desk and on paper (issue 16): set by build()
    questionnaires: QuestionnaireService | None = None
    question_bank: Bank | None = None   # [followup] bank_file, read at start
    # text messages beside the phone (issue 17): the outbox's uses, and its worker when [sms] enabled
    sms: SmsService | None = None
    sms_worker: SmsWorker | None = None


def build(cfg: Config, *, wrapup_seconds: float = 0.0) -> Services:
    db = Database(cfg.database_url)
    a = cfg.ari
    ari = AriClient(a.url, a.username, a.password, a.app, reconnect_max_delay=a.reconnect_max_delay,
                    ca_file=a.ca_file or None)
    # With webhooks on, every logged row that is a webhook event brings its outbox row (same transaction).
    events = EventLog(db, companion=outbox.companion if cfg.webhooks.enabled else None)
    queues = QueueService(db, events)
    notifier = AgentNotifier()
    pops = ScreenPopService(db, notifier, on_pop=outbox.screen_pop if cfg.webhooks.enabled else None)
    spool = cfg.recordings.asterisk_dir
    recordings = RecordingService(ari, events, cfg.path(cfg.recordings.dir), cfg.recordings.format,
                                  cfg.recordings.enabled, asterisk_dir=cfg.path(spool) if spool else None)
    flows = {"hotline": load_inbound_flow(cfg.path(cfg.telephony.hotline_flow))}
    router = CallRouter(db, flows)
    # Inbound self-service (issue 17): the hotline's action nodes run through each call's bound runner; a
    # resolved ticket's summary is spoken to the caller from the files the tickets' voice renders.
    voice = _summary_voice(cfg)
    self_service = SelfService(db, time_zone=cfg.site.time_zone, voice=voice)
    router.deps = CallDeps(ari=ari, events=events, queues=queues, pops=pops, recordings=recordings,
                           settings=cfg.telephony, bind=router.bind, bind_bridge=router.bind_bridge,
                           forget=router.forget, wrapup_seconds=wrapup_seconds, notifier=notifier,
                           inbound_actions=self_service.bind,
                           survey_flow=load_inbound_flow(cfg.path(cfg.telephony.survey_flow)),
                           surveys=self_service.surveys)
    services = Services(cfg, db, ari, events, queues, notifier, pops, recordings, router, flows,
                        Auth.from_config(cfg, db))
    services.monitors = MonitorService(ari, db, events, router, cfg.telephony,
                                       default_endpoint=cfg.telephony.supervisor_phone or None)
    services.kpi = KpiService(db, cfg)
    services.reports = ReportService(db, cfg)
    services.wallboard = WallboardService(queues, router, services.monitors, services.kpi)
    services.review = ReviewService(db, cfg.path(cfg.recordings.dir))
    services.desk = DeskService(db, events, queues, notifier, cfg.telephony.default_region,
                                away_logout_seconds=cfg.desk.away_logout_seconds,
                                view_rate=ViewRate(cfg.desk.views_per_window, cfg.desk.view_window_seconds),
                                recent=RecentResults(cfg.desk.search_results_seconds))
    queues.availability_checks.append(services.desk.why_not_available)
    queues.state_listeners.append(services.desk.agent_state_changed)
    services.controls = CallControls(router, queues, db, events, flows["hotline"])
    router.register_role("outbound", services.controls.on_stasis_start)
    router.register_role("emergency", services.controls.on_emergency_start)
    # A broken protocol file stops the start with file:line messages, like a broken IVR flow.
    services.triage = TriageService.from_files(events, db=db)
    services.questionnaires = QuestionnaireService(db)  # one, shared: it caches the versions it parsed
    # The hospital's question bank, checked at start like the protocols: the designer builds on this one.
    services.question_bank = load_bank(cfg.path(cfg.followup.bank_file))
    _build_callbacks(services)
    services.escalations = EscalationService(services.triage, services.controls, queues, events, db,
                                             callbacks=services.callbacks,
                                             dial_now=services.urgent_dialer.kick)
    services.urgent_dialer.reached = services.escalations.callback_reached
    # The emergency conference counts when the emergency service answers, not when it is dialed.
    router.deps.emergency_listeners.append(services.escalations.emergency_leg_changed)
    _build_campaigns(services)
    _build_progressive(services)
    _build_dialer(services)
    _build_sms(services)
    if cfg.fastagi.listen.strip():
        services.fastagi = build_fastagi(cfg, db, flows, cfg.fastagi.listen)
    services.metrics = Metrics(router, queues, ari, db, events, services.fastagi)
    _build_webhooks(services)
    # One patient feed (identity by [hl7] mrn_system, discharges told to the campaigns, deaths to the
    # campaigns and care plans) for ADT and CSV; the desk's 'deceased' goes through the same port.
    followups = PatientFollowUps(DischargeFollowUp())
    services.patients = PatientFeed(IdentityRule(cfg.hl7.mrn_system, cfg.telephony.default_region), followups)
    _build_careplans(services, followups)
    services.hl7 = Hl7Service(db, services.patients, cfg.hl7)
    if cfg.hl7.listen:
        services.hl7_listener = MllpListener(services.hl7, *listen_address(cfg.hl7.listen))
    services.admin = AdminService(db, queues, services.auth.users.hasher)
    services.imports = ImportService(db, services.patients, import_commands.csv_settings(cfg))
    _build_fhir_poll(services)
    _build_complaints(services, voice)
    return services


def _summary_voice(cfg: Config) -> SummaryVoice:
    """Tickets' summaries spoken in the prompt catalog's voice of their language (complaints/voice.py)."""
    c = cfg.complaints
    root = cfg.path(c.summary_audio_dir) if c.summary_audio_dir else cfg.state_path / "ticket-summaries"
    voices = load_catalog(cfg.path(PROMPTS_FILE)).voices
    return SummaryVoice(root, voices, asterisk_dir=c.summary_audio_asterisk_dir, group=c.summary_audio_group)


def _build_fhir_poll(s: Services) -> None:
    """The FHIR server's changes imported every [fhir] poll_interval_seconds, identity by [fhir] mrn_system
    (an identifier.system URI, not HL7's assigning authority), through the same patient feed rules."""
    f = s.cfg.fhir
    if not (f.base_url and f.poll_interval_seconds > 0):
        return
    feed = PatientFeed(IdentityRule(f.mrn_system, s.cfg.telephony.default_region), DischargeFollowUp())
    importer = ImportService(s.db, feed, import_commands.csv_settings(s.cfg))
    s.fhir_poll = FhirPollJob(importer, f, s.cfg.state_path / "fhir-poll.json")


def _build_complaints(s: Services, voice: SummaryVoice) -> None:
    """Tickets: routing.yaml read once (a broken file stops the start with file:line messages); with
    webhooks on, complaint.created/resolved go to the outbox in the ticket's transaction, and to the SMS
    service, which texts the patient the serial, then that the answer is ready (same transaction)."""
    c = s.cfg.complaints
    rules = complaint_routing.load(s.cfg.path(c.routing_file)) if c.routing_file else complaint_routing.load()
    listeners = ([outbox.complaint] if s.cfg.webhooks.enabled else []) + [s.sms.ticket_event]
    if s.cfg.mail.smtp_host:   # a ticket opened by email: its serial, then "the answer is ready", by email
        s.mail_worker = MailWorker(s.db, s.cfg.mail)
        listeners.append(MailNotices(s.cfg.mail, s.cfg.site, kick=s.mail_worker.kick).ticket_event)

    def listener(session, type_: str, complaint_id: int, serial: str) -> None:
        for each in listeners:
            each(session, type_, complaint_id, serial)

    root = s.cfg.path(c.attachments_dir) if c.attachments_dir else s.cfg.state_path / "attachments"
    store = AttachmentStore(root, c.max_attachment_bytes)
    s.complaints = ComplaintService(s.db, rules, listener=listener, store=store, voice=voice)
    s.sms.tickets = ComplaintDesk(rules, listener)  # a COMPLAINT text opens a ticket in its transaction
    s.complaint_escalation = EscalationJob(s.complaints, tick_seconds=c.escalation_tick_seconds)
    if s.cfg.mail.host:
        s.mail = MailIntake(s.db, s.cfg.mail, MailTickets(rules, store, listener))


def _build_careplans(s: Services, followups: PatientFollowUps) -> None:
    """Care plans: automated follow-ups through the campaigns, the desk's calls through click-to-dial."""
    s.careplans = CarePlanService(s.db, s.cfg.site.time_zone, s.questionnaires, s.campaigns,
                                  followups, s.controls)
    s.careplan_planning = PlanningLoop(s.careplans)


def _build_sms(s: Services) -> None:
    """Texts: reminders when a reminder campaign is planned, "we tried to call you" when a follow-up attempt
    reached nobody (both in the campaign's transaction); the worker sends through the [sms] gateway. A broken
    templates.yaml stops the start with file:line messages."""
    s.sms = SmsService(s.db, s.cfg, sms_templates.load())
    s.campaigns.plan_listeners.append(s.sms.reminders_planned)
    s.campaigns.attempt_listeners.append(s.sms.attempt_ended)
    if s.cfg.sms.enabled:
        s.sms_worker = SmsWorker(s.db, sms_gateway.build(s.cfg.sms), s.cfg.sms, s.sms.report_url,
                                 hospital_zone=s.cfg.site.time_zone or "UTC")
        s.sms.kick = s.sms_worker.kick


def _build_webhooks(s: Services) -> None:
    """Events out: the worker only when enabled; the console lists subscriptions either way."""
    if s.cfg.webhooks.enabled:
        s.webhook_worker = DeliveryWorker(s.db, s.cfg.webhooks)
    s.webhooks = WebhookService(s.db, kick=s.webhook_worker.kick if s.webhook_worker else lambda: None)


def _build_callbacks(s: Services) -> None:
    """Callbacks, and the dialer of urgent ones: the patient's leg enters as `callback,<call id>`
    (callbacks/stasis.py); a nurse reaching the patient is reported to the escalations (set in build())."""
    s.callbacks = CallbackService(s.db)
    s.urgent_dialer = UrgentDialer(s.router, s.callbacks, s.events, s.flows["hotline"],
                                   retry_seconds=s.cfg.telephony.urgent_callback_retry_seconds)
    register_callback_role(s.router)


def _build_dialer(s: Services) -> None:
    """Automated campaigns. The patient leg of a campaign call (either mode) enters as `campaign,...` or
    `progressive,...` and, with AMD's verdict, `campaign-amd,...` or `progressive-amd,...`
    (campaigns/dialing/stasis.py)."""
    s.dialer = Dialer(s.router, s.campaigns, CampaignActions(s.db, s.events), s.cfg)
    register_campaign_roles(s.router)


def _build_campaigns(s: Services) -> None:
    """Outbound campaigns (issue 6): definitions, plans, claims and reports; a run dials through the dialer
    of the campaign's mode (automated: s.dialer, progressive: s.progressive), looked up when a run starts."""
    s.campaigns = CampaignService(s.db, s.events, s.cfg)
    s.dnc = DoNotCallList(s.db, s.cfg.telephony.default_region)
    s.campaign_catalog = CampaignCatalog(s.db)
    dialers = {"automated": "dialer", "progressive": "progressive"}
    s.campaign_runs = CampaignRuns(s.campaigns, lambda mode: getattr(s, dialers[mode], None),
                                   default_worker(s.cfg.campaigns.worker))
    if s.cfg.campaigns.scheduler:
        s.campaign_scheduler = Scheduler(functools.partial(s.campaigns.definitions, enabled_only=True),
                                         s.campaign_runs.run, s.cfg.site.time_zone)


def _build_progressive(s: Services) -> None:
    """Progressive campaigns: an agent is reserved before each dial (the ARI roles: _build_dialer)."""
    s.progressive = ProgressiveDialer(s.campaigns, s.queues, s.router, s.db, s.flows["hotline"], s.cfg.site)
    s.queues.state_listeners.append(s.progressive.agent_state_changed)


async def start(s: Services, *, ari: bool = True) -> None:
    """Start the services; ari=False runs without Asterisk (console and API only, e.g. browser tests)."""
    await s.events.start()
    await s.queues.load()
    if s.triage:
        s.triage.check_script_map(set(s.queues.queues))  # scripts.yaml names real queues, or no start
    if s.desk:
        s.desk.start()  # logs out desks whose console was closed ([desk] away_logout_seconds)
    if s.metrics:
        s.metrics.start()
    if s.webhook_worker:
        s.webhook_worker.start()
    if s.sms_worker:
        s.sms_worker.start()
    if s.hl7_listener:
        await s.hl7_listener.start()  # patient data flows in with or without Asterisk
    if s.fhir_poll:
        s.fhir_poll.start()  # like the HL7 listener, with or without Asterisk
    if s.complaint_escalation:
        s.complaint_escalation.start()  # tickets escalate with or without Asterisk
    if s.mail:
        s.mail.start()
    if s.mail_worker:
        s.mail_worker.start()
    if s.careplan_planning:
        s.careplan_planning.start()  # follow-ups fall due with or without Asterisk
    if not ari:
        return
    await s.ari.start()
    s.ari_task = asyncio.create_task(s.ari.run(s.router.on_event, s.router.reconcile), name="ari")
    if s.kpi:
        s.kpi.start()  # write-through of the KPI store: dashboards in a fresh process find it current
    if s.campaign_scheduler:
        s.campaign_scheduler.start()
    if s.urgent_dialer:
        s.urgent_dialer.start()
    if s.fastagi:
        s.fastagi.start()  # its `route` hands calls to the application just registered


async def stop(s: Services) -> None:
    if s.fastagi:
        await asyncio.to_thread(s.fastagi.stop)  # waits for the listener's loop to notice
    if s.hl7_listener:
        await s.hl7_listener.stop()
    if s.fhir_poll:
        await s.fhir_poll.stop()
    if s.complaint_escalation:
        await s.complaint_escalation.stop()
    if s.complaints:
        await s.complaints.close()  # a resolution's spoken summary is not left half made
    if s.mail:
        await s.mail.stop()
    if s.mail_worker:
        await s.mail_worker.stop()
    if s.careplan_planning:
        await s.careplan_planning.stop()
    if s.desk:
        await s.desk.stop()
    if s.metrics:
        await s.metrics.stop()
    if s.kpi:
        await s.kpi.stop()
    if s.campaign_scheduler:
        await s.campaign_scheduler.stop()
    if s.campaign_runs:
        await s.campaign_runs.stop()
    if s.dialer:
        await s.dialer.stop()
    if s.urgent_dialer:
        await s.urgent_dialer.stop()
    if s.monitors:
        await s.monitors.stop_all()
    if s.webhook_worker:
        await s.webhook_worker.stop()
    if s.sms_worker:
        await s.sms_worker.stop()
    if s.ari_task:
        s.ari_task.cancel()
        await asyncio.gather(s.ari_task, return_exceptions=True)
    for call in s.router.live_calls():
        if call.task:
            call.task.cancel()
    await s.recordings.wait_idle()
    await s.notifier.close_all()
    await s.auth.sockets.stop()
    await s.ari.close()
    await s.events.close()
    s.db.close()


# Each feature's routes, registered in this order after the web package's own (web/app.py). A new feature
# package with views adds its `setup_routes` here.
ROUTES = (
    signin.setup_routes,  # sign-in, sign-out, the user's own password, websocket tickets
    admin_http.setup_routes,  # the admin console
    queues_http.setup_routes,  # agents' states and websockets, the queues' waiting callers
    calls_http.setup_routes,  # a call's record, the call of a channel, call controls
    desk_http.setup_routes,  # the agent desk page (/agent) and its API
    wallboard_http.setup_routes,  # supervision (issue 4): wallboard and supervisor page
    review_http.setup_routes,  # recording review
    supervision_http.setup_routes,  # live monitoring
    triage_http.setup_routes,  # triage panel API and call scripts (issue 5)
    followup_http.setup_routes,  # follow-up questionnaires on the desk and on paper (issue 16)
    campaigns_http.setup_routes,  # campaign JSON API: run, plan, reports, do-not-call (issue 6)
    campaign_console.setup_routes,  # campaign console pages (issue 6)
    kpi_http.setup_routes,  # KPI dashboard, JSON and CSV reports (issue 7)
    reports_http.setup_routes,  # follow-up performance reports: catalogue, pages, JSON, CSV, PDF (issue 16)
    metrics_http.setup_routes,  # Prometheus /api/metrics (issue 12)
    hl7_http.setup_routes,  # the HL7 inbound log for admins (issue 15)
    imports_http.setup_routes,  # the CSV import page for admins (issue 15)
    webhooks_http.setup_routes,  # webhook subscriptions and deliveries, console and API (issue 15)
    careplans_http.setup_routes,  # care plans and the follow-up desk (issue 16)
    sms_http.setup_routes,  # the SMS gateway's callbacks: incoming texts, delivery reports (issue 17)
    complaints_http.setup_routes,  # tickets: public form, queue, handler console, letters, from a call (17)
    openapi_http.setup_routes,  # the OpenAPI document of these routes and its docs page (issue 15)
)


def init_app(cfg: Config, services: Services | None = None, *, ari: bool = True,
             managed: bool = True) -> web.Application:
    """The application (web/app.py's factory) over `services` (built from `cfg` when not given) with every
    feature's routes. `managed`: the app starts and stops the services (with `ari`: connected to Asterisk);
    without it the caller does (the integration test harness)."""
    services = services or build(cfg)

    async def lifecycle(app: web.Application):
        await start(services, ari=ari)
        yield
        await stop(services)

    return create_app(services, ROUTES, lifecycle=lifecycle if managed else None)


def serve(cfg: Config) -> None:
    run(init_app(cfg), cfg)


def run(app: web.Application, cfg: Config) -> None:
    """Serve until stopped, logging each request without its query string (web.AccessLogger)."""
    web.run_app(app, host=cfg.http.host, port=cfg.http.port, print=None, access_log_class=AccessLogger)
