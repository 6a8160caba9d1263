"""ADT messages written for these tests (fictional patients): a builder, and a realistic day of a hospital."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

SENDER = "EPIC|GENHOSP"
MORNING = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def segment(name: str, fields: dict[int, str]) -> str:
    """A segment from its fields by number (PV1-19 is fields[19])."""
    last = max(fields, default=0)
    return "|".join([name] + [fields.get(n, "") for n in range(1, last + 1)])


def pv1(mrn: str, department: str = "Cardiology", *, patient_class: str = "I", room: str = "301",
        admitted: datetime | None = None, discharged: datetime | None = None, disposition: str = "") -> str:
    fields = {1: "1", 2: patient_class, 3: f"{department[:4].upper()}^{room}^A^GENHOSP",
              7: "1234^Heart^Henry^^^Dr", 10: department, 19: f"V{mrn}", 36: disposition}
    if admitted:
        fields[44] = ts(admitted)
    if discharged:
        fields[45] = ts(discharged)
    return segment("PV1", fields)


def adt(event: str, control_id: str, *, mrn: str = "M1001", when: datetime = MORNING,
        family: str = "Rivera", given: str = "Ana", dob: str = "19580214", sex: str = "F",
        phones: str = "^PRN^PH^^1^415^5550101~^PRN^CP^^1^415^5550102", language: str = "SPA^Spanish^ISO6392",
        visit: str | None = "", extra: tuple[str, ...] = (), version: str = "2.5.1", msh9: str | None = None,
        died: datetime | None = None) -> bytes:
    msh = (f"MSH|^~\\&|EPIC|GENHOSP|CALLCENTER|GENHOSP|{ts(when)}||{msh9 or f'ADT^{event}^ADT_A01'}|"
           f"{control_id}|P|{version}")
    pid = {1: "1", 3: f"{mrn}^^^GENHOSP^MR~943476{mrn[-4:]}^^^NHS^NH", 5: f"{family}^{given}^^^^^L",
           7: dob, 8: sex, 11: "1 Main St^^Springfield^IL^62701", 13: phones, 14: "^WPN^PH^^1^415^5550199",
           15: language}
    if died:
        pid.update({29: ts(died), 30: "Y"})
    segments = [msh, f"EVN|{event}|{ts(when)}", segment("PID", pid)]
    if visit is not None:
        segments.append(visit or pv1(mrn))
    segments += list(extra)
    return ("\r".join(segments) + "\r").encode("utf-8")


CLINICAL = ("AL1|1|DA|^Penicillin|SV|Hives", "DG1|1||I21^Myocardial infarction^I10",
            "NK1|1|Partner^Pat|SPO^Spouse||^PRN^PH^^1^415^5550150")
DEPARTMENTS = ["Cardiology", "Orthopedics", "Medicine", "Surgery", "Cardiology", "Pediatrics"]


def day_of_adt(start: datetime, patients: int = 24) -> list[tuple[str, bytes]]:
    """A day at a general hospital across departments: registrations, admissions, transfers, updates,
    cancelled admissions, discharges (some cancelled and made again). (what, message) in sending order.
    Patient i has MRN M<2000+i>, mobile +1555000<2000+i>, department DEPARTMENTS[i % 6]."""
    out: list[tuple[str, bytes]] = []
    ids = iter(range(1, 100000))

    def add(what: str, event: str, mrn: str, when: datetime, family: str, **fields) -> None:
        fields.setdefault("phones", f"^PRN^CP^^1^555^{int(mrn[1:]):07d}")  # M2003: +15550002003
        out.append((what, adt(event, f"D{start:%m%d}{next(ids):05d}", mrn=mrn, when=when, family=family,
                              **fields)))

    for i in range(patients):
        mrn, dept, family = f"M{2000 + i}", DEPARTMENTS[i % len(DEPARTMENTS)], f"Family{i}"
        admitted = start + timedelta(minutes=20 * i)
        stay = pv1(mrn, dept, room=str(100 + i), admitted=admitted)
        add("register", "A04", mrn, admitted - timedelta(minutes=5), family,
            visit=segment("PV1", {1: "1", 2: "O", 3: "CLINIC^1^1^GENHOSP", 10: dept, 19: f"O{mrn}"}))
        add("admit", "A01", mrn, admitted, family, visit=stay, extra=CLINICAL)
        if i % 4 == 1:
            add("transfer", "A02", mrn, admitted + timedelta(hours=2), family,
                visit=pv1(mrn, dept, room=str(200 + i), admitted=admitted))
        if i % 5 == 2:
            add("update", "A08", mrn, admitted + timedelta(hours=1), family,
                phones=f"^PRN^CP^^1^555^{7000 + i:07d}", visit=stay)
        if i % 11 == 10:
            add("cancel admit", "A11", mrn, admitted + timedelta(hours=1), family, visit=stay)
            continue
        discharged = admitted + timedelta(hours=6)
        left = pv1(mrn, dept, admitted=admitted, discharged=discharged, disposition="01")
        add("discharge", "A03", mrn, discharged, family, visit=left)
        if i % 7 == 3:
            add("cancel discharge", "A13", mrn, discharged + timedelta(minutes=10), family, visit=left)
            again = discharged + timedelta(hours=1)
            add("discharge again", "A03", mrn, again, family,
                visit=pv1(mrn, dept, admitted=admitted, discharged=again, disposition="01"))
    return out
