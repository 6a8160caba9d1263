"""Configuration, loaded once: defaults, then the secrets file, then `callcenter.toml`, then CALLCENTER_* env.

Every key is typed. A bad key or value raises ConfigError naming the key and where it came from, so an
operator sees `ari.port: expected an integer, got 'eighty' (from CALLCENTER_ARI_PORT)` instead of a trace.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import secrets
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .private_files import write_private

ENV_PREFIX = "CALLCENTER_"
# Variables of the scripts and the test suite, not of the application: the loader leaves them alone, and
# reports any other unknown CALLCENTER_* variable, so a typo never silently falls back to a default.
SCRIPT_PREFIXES = ("CALLCENTER_SANDBOX_", "CALLCENTER_PG_", "CALLCENTER_TEST_", "CALLCENTER_DEMO_")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class ConfigError(Exception):
    pass


@dataclass
class AriConfig:
    # http:// for an Asterisk on this machine; https:// for one across a network (the ARI password and the
    # fetched recordings cross it): the events websocket is then wss://, and the certificate always checked.
    url: str = "http://127.0.0.1:8088"
    username: str = "callcenter"
    password: str = ""
    app: str = "callcenter"
    reconnect_max_delay: float = 10.0
    # The CA certificate(s), PEM, that signed Asterisk's certificate (a hospital's own CA); empty: the system
    ca_file: str = ""


@dataclass
class DatabaseConfig:
    url: str = ""


@dataclass
class SiteConfig:
    # The hospital as agents name it in call scripts, and the number patients call back; left empty, the
    # scripts show a visible [missing: ...] marker rather than a blank.
    hospital_name: str = ""
    callback_number: str = ""
    # The hospital's time zone (IANA name): KPI days and intervals, business hours, campaign windows of
    # patients without a time zone of their own.
    time_zone: str = "UTC"


@dataclass
class KpiConfig:
    """Parameters of the KPI definitions (docs/kpi.md); days and business hours are in [site] time_zone."""
    # A caller who hangs up within this many seconds of being queued is a short abandon: not an abandon,
    # and not in the service level's denominator (a misdial, or a caller who chose to call later at once).
    short_abandon_seconds: float = 5.0
    # First-contact resolution: no further call from the same patient within this many days.
    fcr_days: int = 7
    # Business hours, "HH:MM-HH:MM", on the business days (ISO weekdays, 1 = Monday, "1-5" or "1,2,3").
    business_hours: str = "08:00-18:00"
    business_days: str = "1-5"
    # Colour thresholds, "kpi:green:amber" separated by commas, overriding the defaults of docs/kpi.md
    # (e.g. "service_level:0.85:0.75,asa_seconds:20:45").
    thresholds: str = ""


@dataclass
class ReportsConfig:
    """Follow-up performance (issue 16, docs/reports.md); days are the hospital's ([site] time_zone)."""
    # Timeliness: a follow-up is timely when done within this many days of discharge (0 = the same day)...
    followup_days: int = 7
    # ...or a department's own, "department:days" separated by commas (e.g. "Cardiology:2,Surgery:3").
    followup_days_by_department: str = ""
    # Authenticity: a follow-up completed by staff must link to a recorded call of at least this many seconds,
    # one completed by an automated call to a call answered for that long (docs/reports.md).
    min_talk_seconds: float = 60.0


@dataclass
class FollowupConfig:
    """Follow-up questionnaires (issue 16, docs/followup.md)."""
    # The hospital's question bank (YAML under version control, schema in callcenter/followup/schema.py): read
    # and checked when the server starts (a broken file stops it with file:line errors); the console's
    # designer offers and validates against it, and `callcenter questionnaires check|load` read it unless
    # given --bank. The default is the shipped example bank, which needs clinical review.
    bank_file: str = "callcenter/followup/question_bank.yaml"


@dataclass
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # The API client secret this machine's commands (agent, campaign run, simulate-call) present; `setup` and
    # `serve` register it once as the client "cli" (auth/clients.py). The server accepts only clients.
    api_token: str = ""
    session_key: str = ""
    # Cookies only over HTTPS, and HSTS: "auto" turns it on unless the console is on a loopback address and
    # not behind a proxy; "true" when TLS ends in front of it; "false" only for plain HTTP on purpose.
    secure_cookies: str = "auto"
    # The reverse proxy that terminates TLS (its addresses or networks, comma-separated): its
    # X-Forwarded-For/-Proto/-Host are believed, and every request must come through it ("/health" excepted).
    trusted_proxies: str = ""


@dataclass
class TelephonyConfig:
    default_region: str = "US"
    hotline_flow: str = "ivr_flows/hotline.yaml"
    # The survey after an inbound call (issue 17): asked when the agent or the queue sends the caller to it.
    survey_flow: str = "ivr_flows/post-call-survey.yaml"
    agent_ring_timeout: int = 15
    # How often a waiting caller hears their place in the queue; 0 turns announcements off.
    queue_announce_seconds: float = 30.0
    # Test agent phones and simulated patients are Local channels; the formats keep Asterisk from
    # transcoding (measured: 7x-30x more CPU per call without).
    channel_formats: str = "ulaw"
    simulated_patient_context: str = "sim-patient"
    hotline_context: str = "callcenter-hotline"
    hotline_extension: str = "hotline"
    # Click-to-dial: how a patient's number is dialed. {number} is E.164 with '+', {digits} without it. The
    # default reaches the sandbox's simulated patient phone; a real site names its trunk, e.g.
    # "PJSIP/{digits}@trunk".
    outbound_dial_template: str = "Local/{number}@sim-callee/n"
    outbound_caller_id: str = '"Hospital" <hotline>'
    outbound_ring_timeout: int = 30
    # Red-flag triage: the emergency number conferenced into a call (the sandbox's simulated callee).
    emergency_dial_template: str = "Local/911@sim-callee/n"
    # Live monitoring: the phone rung for a supervisor without a phone of their own (users.phone_endpoint)
    # and for API clients, e.g. the supervisors' room "PJSIP/7001". Empty: they cannot monitor.
    supervisor_phone: str = ""
    # An urgent callback (an escalation owed when the caller hung up) that reached no nurse is dialed again
    # after this many seconds (callbacks/dialer.py); the number is dialed with outbound_dial_template.
    urgent_callback_retry_seconds: float = 60.0
    # Outbound campaigns: how a patient's number is dialed ({number}/{digits} as above). The default reaches
    # the sandbox's simulated patients (sim-campaign: person, machine, no answer, busy per number).
    campaign_dial_template: str = "Local/{number}@sim-campaign/n"
    campaign_ring_timeout: int = 25
    # From the patient's answer to AMD's verdict (a machine's greeting is let to finish, up to 15 s).
    campaign_amd_timeout: float = 30.0


@dataclass
class RecordingConfig:
    dir: str = "recordings"
    format: str = "wav"
    enabled: bool = True
    # Asterisk's own recordings directory (its astspooldir/recording) when this process can read and delete
    # there (Asterisk on this machine or a shared disk): finished recordings are taken from it instead of
    # fetched and deleted through ARI, two round trips less per call. Empty: through ARI.
    asterisk_dir: str = ""


@dataclass
class CampaignsConfig:
    # Campaign definitions (YAML) that `callcenter campaign load` reads by default.
    dir: str = "campaigns"
    # Run scheduled campaigns (their cron `schedule`) inside the server; off when an external cron runs
    # `callcenter campaign run NAME` instead.
    scheduler: bool = False
    # The name of this dialing worker in claims and attempts; empty: hostname-pid.
    worker: str = ""
    # A claim (patient being dialed) left by a crashed worker stops blocking the patient after this; longer
    # than the longest campaign call.
    claim_ttl_seconds: int = 900


@dataclass
class DeskConfig:
    # A desk staffed through the console whose console is closed (no open websocket) and not back within
    # this many seconds is logged out of the queues; a disposition it still owes is kept as a task. 0: never.
    away_logout_seconds: float = 120.0
    # Patient records one user may open within view_window_seconds (pops, searches, callbacks, break-glass):
    # a bound on what a misused account can read. Past it the desk answers 429.
    views_per_window: int = 30
    view_window_seconds: float = 600.0
    # A patient a user's own search returned may be opened for this long; later (or after a restart) the
    # user searches again, or breaks the glass with a written reason.
    search_results_seconds: float = 1800.0


@dataclass
class FastAgiConfig:
    # The FastAGI server (callcenter/fastagi/) a hospital's own dialplan asks with
    # AGI(agi://HOST:PORT/identify) and .../route: "HOST:PORT", e.g. "127.0.0.1:4573". Empty: off. FastAGI has
    # no authentication and `identify` answers about patients: listen on loopback or a private interface only.
    listen: str = ""


@dataclass
class Hl7Config:
    """HL7 v2 ADT over MLLP (issue 15, callcenter/hl7/)."""
    listen: str = ""                 # "host:port" of the MLLP listener in `callcenter serve` ("": none)
    mrn_system: str = ""             # PID-3 assigning authority (CX-4) of the MRN ("": the one typed MR)
    max_message_bytes: int = 1048576  # a larger message is refused (AR) and its first bytes kept
    application: str = "CALLCENTER"  # MSH-3 of our ACKs
    facility: str = ""               # MSH-4 of our ACKs


@dataclass
class ImportsConfig:
    """Imports of CSV files (issue 15, callcenter/imports/; columns in docs/imports.md)."""
    # Dates with slashes: 01/03/2026 is 1 March (true: most of the world) or 3 January (false: the US).
    day_first: bool = False
    # The largest file the admin console's upload page takes.
    max_upload_bytes: int = 64 * 1024 * 1024


@dataclass
class FhirConfig:
    """FHIR R4 (issue 15, callcenter/imports/fhir.py): bundle files and polling a FHIR server."""
    # identifier.system of the hospital's MRN in Patient resources ("": the identifier typed MR, else the
    # first one)
    mrn_system: str = ""
    # The server polled by `callcenter fhir poll` (e.g. "https://ehr.example.org/fhir"); "": none.
    base_url: str = ""
    # `callcenter serve` polls base_url this often (seconds); 0: never (`callcenter fhir poll` still can).
    poll_interval_seconds: float = 0.0
    # A bearer token, or OAuth2 client credentials (token_url, client_id, client_secret; SMART backend
    # services style with a client secret) to get one.
    token: str = ""
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    scope: str = "system/*.read"
    page_size: int = 200  # _count per page
    timeout_seconds: float = 30.0


@dataclass
class MailConfig:
    """The complaints mailbox (issue 17, callcenter/mail/): an IMAP folder polled for patients' emails."""
    host: str = ""                   # the IMAP server ("": no mailbox is polled)
    port: int = 993
    tls: bool = True                 # IMAPS with the certificate checked (ca_file for a private CA)
    ca_file: str = ""
    username: str = ""
    password: str = ""               # better in state/secrets.toml than in callcenter.toml
    folder: str = "INBOX"
    poll_seconds: float = 60.0
    timeout_seconds: float = 30.0
    batch: int = 50                  # messages read per poll
    max_message_bytes: int = 40 * 1024 * 1024  # larger: logged as refused, never fetched
    # Emails to patients about tickets opened by email (mail/outbox.py): the acknowledgement with the serial
    # and "the answer is ready" ("": none are written). The certificate is checked against ca_file as above.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls (587), tls (SMTPS, 465), none (a relay on localhost only)
    smtp_user: str = ""              # "": no AUTH
    smtp_password: str = ""          # better in state/secrets.toml
    smtp_from: str = ""              # e.g. "Patient Relations <relations@hospital.example>"
    smtp_timeout_seconds: float = 30.0
    smtp_poll_seconds: float = 30.0
    smtp_max_attempts: int = 12      # then dead (kept in mail_outbox with its last error)
    smtp_backoff_seconds: float = 60.0
    smtp_backoff_max_seconds: float = 3600.0


@dataclass
class LoggingConfig:
    # "text" (a line per record, for a terminal) or "json" (JSON lines with time, level, logger, message and
    # the call and channel ids: for a log collector).
    format: str = "text"
    # DEBUG also logs every ARI request and call event (ids only).
    level: str = "INFO"


@dataclass
class WebhooksConfig:
    """Events out (issue 15, docs/webhooks.md): subscriptions are made in the admin console."""
    # Write webhook events to the outbox and run the delivery worker in `callcenter serve`.
    enabled: bool = True
    # A delivery is dead after this many failed attempts (an admin may re-send it from the console).
    max_attempts: int = 10
    # The first retry comes after about this many seconds, each next one after twice as long (a random half
    # taken off), never more than backoff_max_seconds apart.
    backoff_seconds: float = 10.0
    backoff_max_seconds: float = 3600.0
    # A receiver that has not answered within this is a failed attempt.
    timeout_seconds: float = 10.0
    # A claimed delivery is this worker's for that long: longer than timeout_seconds, so a slow receiver's
    # delivery is never taken by another controller while it is still being sent.
    lease_seconds: float = 120.0
    # How often the worker looks for new events and due retries, and how many it sends at once.
    poll_seconds: float = 1.0
    batch: int = 10
    # The name of this worker in claims; empty: hostname-pid.
    worker: str = ""
    # Delivered and dead deliveries are deleted this many days after the event (pending ones never).
    keep_days: float = 30.0


@dataclass
class ComplaintsConfig:
    """Tickets (issue 17, callcenter/complaints/)."""
    routing_file: str = ""  # "": the shipped example, callcenter/complaints/routing.yaml
    escalation_tick_seconds: float = 60.0  # how often overdue tickets are looked for
    # Attachments (scanned letters) are kept owner-only here, like recordings ("": <state_dir>/attachments);
    # at most this large each.
    attachments_dir: str = ""
    max_attachment_bytes: int = 10 * 1024 * 1024
    # A resolved ticket's summary for the patient, spoken (complaints/voice.py), is kept here as
    # <ticket id>.wav ("": <state_dir>/ticket-summaries), owner-only; with summary_audio_group (the group
    # Asterisk runs as, by name or number) readable by that group too, so that Asterisk can play it.
    summary_audio_dir: str = ""
    summary_audio_group: str = ""
    # The same directory as Asterisk names it when it runs in a chroot or container ("": the same path).
    summary_audio_asterisk_dir: str = ""
    # The public web form: submissions per address per window (more are held back with the form kept).
    web_per_address: int = 5
    web_window_seconds: float = 600.0


@dataclass
class SmsConfig:
    """Text messages beside the phone (issue 17, callcenter/sms/): reminders, "we tried to call you",
    ticket acknowledgements, keywords from patients. Sent through an SMS gateway: Kannel's smsbox, or a
    provider's HTTP API."""
    # Run the SMS worker in `callcenter serve` (texts are written to the outbox either way).
    # A follow-up patient reached neither by phone nor by the "we tried to call you" text (its delivery
    # failed): a callback on this queue's list, for a person to try again.
    fallback_queue: str = "nurse"
    enabled: bool = False
    gateway: str = "kannel"          # kannel | http
    # The hospital's number or short code texts come from (and patients reply to).
    sender: str = ""
    # Kannel's smsbox sendsms interface and its sendsms-user.
    kannel_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    kannel_username: str = ""
    kannel_password: str = ""
    # A provider's HTTP API instead (gateway = "http"): texts POSTed as JSON with this bearer token.
    provider_url: str = ""
    provider_token: str = ""
    # How the gateway reaches this server for delivery reports and incoming texts, and the key it presents
    # there (Kannel's dlr-url and the sms-service's post-url carry it; an empty key refuses every callback).
    callback_url: str = "http://127.0.0.1:8080"
    callback_key: str = ""
    # Texts that are not answers to a patient's own message go out only inside this window, in the
    # patient's time zone (else the hospital's); a campaign's own compliance window replaces it for its texts.
    window: str = "08:00-21:00"
    # A text is dead after this many failed sends; retries double from backoff_seconds up to the maximum.
    max_attempts: int = 8
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    timeout_seconds: float = 10.0
    lease_seconds: float = 120.0
    poll_seconds: float = 1.0
    batch: int = 10
    worker: str = ""                 # the name of this worker in claims; empty: hostname-pid


@dataclass
class Config:
    state_dir: str = "var"
    ari: AriConfig = field(default_factory=AriConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    telephony: TelephonyConfig = field(default_factory=TelephonyConfig)
    recordings: RecordingConfig = field(default_factory=RecordingConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    campaigns: CampaignsConfig = field(default_factory=CampaignsConfig)
    kpi: KpiConfig = field(default_factory=KpiConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    followup: FollowupConfig = field(default_factory=FollowupConfig)
    desk: DeskConfig = field(default_factory=DeskConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    fastagi: FastAgiConfig = field(default_factory=FastAgiConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    hl7: Hl7Config = field(default_factory=Hl7Config)
    imports: ImportsConfig = field(default_factory=ImportsConfig)
    fhir: FhirConfig = field(default_factory=FhirConfig)
    complaints: ComplaintsConfig = field(default_factory=ComplaintsConfig)
    mail: MailConfig = field(default_factory=MailConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)

    def path(self, value: str) -> Path:
        """Resolve a configured path relative to the project root, so commands work from any directory."""
        p = Path(value)
        return p if p.is_absolute() else PROJECT_ROOT / p

    @property
    def state_path(self) -> Path:
        return self.path(self.state_dir)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.state_path / 'callcenter.db'}"


SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if dataclasses.is_dataclass(f.default_factory)}


def load(config_file: str | Path | None = None, env: typing.Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    cfg = Config()
    file_path = Path(config_file or env.get(ENV_PREFIX + "CONFIG", "") or PROJECT_ROOT / "callcenter.toml")
    state_dir = env.get(ENV_PREFIX + "STATE_DIR")
    if state_dir:
        cfg.state_dir = state_dir
    if file_path.exists():
        data = _read_toml(file_path)
        if "state_dir" in data and not state_dir:
            cfg.state_dir = str(data["state_dir"])
    else:
        data = {}
    secrets_path = cfg.state_path / "secrets.toml"
    if secrets_path.exists():
        _apply_mapping(cfg, _read_toml(secrets_path), str(secrets_path))
    _apply_mapping(cfg, data, str(file_path))
    _apply_env(cfg, env)
    _check_region(cfg.telephony)
    _check_ari(cfg.ari)
    _check_http(cfg.http)
    _check_fastagi(cfg.fastagi)
    _check_sms(cfg.sms)
    cfg._file = file_path  # so reload() reads the same file (not a setting: no field)
    return cfg


def _check_region(telephony: TelephonyConfig) -> None:
    """Caller IDs are read in this region's conventions: an unknown code ('UK') would make every national
    number malformed, call after call, so it stops the start instead."""
    from .phones import region_code
    try:
        telephony.default_region = region_code(telephony.default_region)
    except ValueError as exc:
        raise ConfigError(f"telephony.default_region: {exc}") from None


def _check_ari(ari: AriConfig) -> None:
    scheme = ari.url.split("://", 1)[0].lower() if "://" in ari.url else ""
    if scheme not in ("http", "https"):
        raise ConfigError(f"ari.url: expected http://HOST:PORT or https://HOST:PORT, got {ari.url!r}")
    if ari.ca_file and scheme != "https":
        raise ConfigError("ari.ca_file: a CA file checks an https:// ari.url; this one is plain http")


def _check_http(http: HttpConfig) -> None:
    if http.secure_cookies.strip().lower() != "auto":
        try:
            _to_bool(http.secure_cookies)
        except ValueError:
            got = http.secure_cookies
            raise ConfigError(f"http.secure_cookies: expected auto, true or false, got {got!r}") from None
    for address in filter(None, (a.strip() for a in http.trusted_proxies.split(","))):
        try:
            ipaddress.ip_network(address)
        except ValueError:
            raise ConfigError(f"http.trusted_proxies: {address!r} is not an address or network") from None


def _check_fastagi(fastagi: FastAgiConfig) -> None:
    if fastagi.listen.strip():
        try:
            listen_address(fastagi.listen)
        except ValueError as exc:
            raise ConfigError(f"fastagi.listen: {exc}") from None


def _check_sms(sms: SmsConfig) -> None:
    if sms.gateway not in ("kannel", "http"):
        raise ConfigError(f"sms.gateway: expected kannel or http, got {sms.gateway!r}")
    clock = r"([01]\d|2[0-3]):[0-5]\d"
    window = sms.window.replace(" ", "")
    if not re.fullmatch(f"{clock}-{clock}", window) or window[:5] >= window[6:]:
        raise ConfigError(f"sms.window: expected HH:MM-HH:MM with the start first, got {sms.window!r}")


def listen_address(value: str) -> tuple[str, int]:
    """"HOST:PORT" ("[::1]:4573" for IPv6; port 0: any free one) as (host, port); ValueError saying what is
    wrong."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:4573), got {value!r}")
    return host, int(port)


def secure_cookies(http: HttpConfig) -> bool:
    """[http] secure_cookies resolved: "auto" is on unless served on loopback without a proxy in front."""
    if http.secure_cookies.strip().lower() == "auto":
        return http.host not in LOOPBACK_HOSTS or bool(http.trusted_proxies.strip())
    return _to_bool(http.secure_cookies)


def reload(cfg: Config) -> Config:
    """The configuration again from the same file and the environment (e.g. after ensure_secrets)."""
    return load(getattr(cfg, "_file", None))


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _apply_mapping(cfg: Config, data: dict, origin: str) -> None:
    for key, value in data.items():
        if key == "state_dir":
            cfg.state_dir = _coerce(str, value, key, origin)
            continue
        if key not in SECTIONS:
            raise ConfigError(f"{key}: unknown configuration section (from {origin})")
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table of settings (from {origin})")
        section = getattr(cfg, key)
        for sub, subvalue in value.items():
            _set(section, key, sub, subvalue, origin)


def _apply_env(cfg: Config, env: typing.Mapping[str, str]) -> None:
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in (ENV_PREFIX + "CONFIG", ENV_PREFIX + "STATE_DIR"):
            continue
        if name.startswith(SCRIPT_PREFIXES):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section = next((s for s in SECTIONS if rest.startswith(s + "_")), None)
        if section is None:
            raise ConfigError(f"{name}: no configuration section matches this variable")
        _set(getattr(cfg, section), section, rest[len(section) + 1:], value, name)


def _set(section: object, section_name: str, key: str, value: object, origin: str) -> None:
    hints = typing.get_type_hints(type(section))
    dotted = f"{section_name}.{key}"
    if key not in hints:
        raise ConfigError(f"{dotted}: unknown setting (from {origin})")
    setattr(section, key, _coerce(hints[key], value, dotted, origin))


def _coerce(kind: type, value: object, dotted: str, origin: str) -> object:
    try:
        if kind is bool:
            return _to_bool(value)
        if kind is int and not isinstance(value, bool):
            return int(value)
        if kind is float and not isinstance(value, bool):
            return float(value)
        if kind is str and isinstance(value, (str, int, float)):
            return str(value)
    except (TypeError, ValueError):
        pass
    expected = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[kind]
    raise ConfigError(f"{dotted}: expected {expected}, got {value!r} (from {origin})")


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _toml_string(value) -> str:
    """A TOML basic string: JSON's escaping of quotes, backslashes and control characters is valid TOML."""
    return json.dumps(str(value), ensure_ascii=False)


def ensure_secrets(cfg: Config) -> Path:
    """Create the secrets file with fresh random values when absent; fill in any secret it lacks."""
    path = cfg.state_path / "secrets.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = _read_toml(path) if path.exists() else {}
    wanted = {
        "ari": {"password": secrets.token_urlsafe(24)},
        "http": {"api_token": secrets.token_urlsafe(32), "session_key": secrets.token_urlsafe(32)},
    }
    changed = not path.exists()
    for section, values in wanted.items():
        for key, value in values.items():
            if not current.get(section, {}).get(key):
                current.setdefault(section, {})[key] = value
                changed = True
    if changed:
        lines = []
        for section, values in current.items():
            lines.append(f"[{section}]")
            lines += [f"{k} = {_toml_string(v)}" for k, v in values.items()]
            lines.append("")
        write_private(path, "\n".join(lines).encode())  # owner-only from the first byte, not chmod after
    return path  # callers load() again so the file and environment still win over the secrets
