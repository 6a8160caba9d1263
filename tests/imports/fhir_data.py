"""FHIR R4 resources written for these tests (fictional people; no file from outside the project)."""
from __future__ import annotations

import json

MRN_SYSTEM = "http://hospital.example.org/mrn"


def patient(fhir_id: str, mrn: str, *, family: str = "Quillon", given: str = "Ada",
            updated: str | None = None, **extra) -> dict:
    resource = {
        "resourceType": "Patient", "id": fhir_id,
        "identifier": [{"system": MRN_SYSTEM, "value": mrn,
                        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "MR"}]}},
                       {"system": "http://example.org/national", "value": f"N{mrn}"}],
        "name": [{"use": "official", "family": family, "given": [given, "Maria"]}],
        "gender": "female", "birthDate": "1950-12-10",
        "telecom": [{"system": "phone", "value": "(415) 555-0131", "use": "mobile"},
                    {"system": "phone", "value": "415 555 0132", "use": "home"},
                    {"system": "email", "value": "ada@example.org"}],
        "communication": [{"language": {"coding": [{"code": "es-MX"}]}, "preferred": True}],
        "contact": [{"relationship": [{"text": "daughter"}], "name": {"text": "Eva Quillon"},
                     "telecom": [{"system": "phone", "value": "415 555 0133"}]}],
    }
    if updated:
        resource["meta"] = {"lastUpdated": updated}
    resource.update(extra)
    return resource


def encounter(fhir_id: str, subject: str, *, status: str = "finished", start: str = "2026-11-20T08:00:00Z",
              end: str | None = "2026-11-24T08:00:00Z", klass: str = "IMP",
              department: str = "Cardiology") -> dict:
    resource = {
        "resourceType": "Encounter", "id": fhir_id, "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": klass},
        "identifier": [{"system": "http://hospital.example.org/visit", "value": f"V-{fhir_id}"}],
        "serviceType": {"text": department}, "subject": {"reference": subject},
        "period": {"start": start, **({"end": end} if end else {})},
        "location": [{"location": {"display": "Ward C3"}}],
        "hospitalization": {"dischargeDisposition": {"coding": [{"code": "home", "display": "Home"}]}},
    }
    return resource


def appointment(fhir_id: str, subject: str, *, status: str = "booked",
                start: str | None = "2026-12-01T09:30:00Z") -> dict:
    resource = {
        "resourceType": "Appointment", "id": fhir_id, "status": status,
        "serviceType": [{"text": "Cardiology"}],
        "participant": [{"actor": {"reference": subject, "display": "Ada Quillon"}, "status": "accepted"},
                        {"actor": {"reference": "Practitioner/p1", "display": "Dr Hart"},
                         "status": "accepted"}],
    }
    if start:
        resource.update(start=start, end=start.replace("09:30", "10:00"))
    return resource


def allergy(fhir_id: str, subject: str, substance: str = "Penicillin", status: str = "active") -> dict:
    return {"resourceType": "AllergyIntolerance", "id": fhir_id, "patient": {"reference": subject},
            "clinicalStatus": {"coding": [{"code": status}]}, "code": {"text": substance},
            "reaction": [{"manifestation": [{"text": "Hives"}], "severity": "severe"}]}


def condition(fhir_id: str, subject: str, name: str = "Heart failure", code: str = "I50") -> dict:
    return {"resourceType": "Condition", "id": fhir_id, "subject": {"reference": subject},
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "code": {"text": name, "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]}}


def bundle(*resources: dict, full_urls: dict[int, str] | None = None, next_url: str | None = None) -> dict:
    entries = []
    for index, resource in enumerate(resources):
        entry = {"resource": resource}
        if full_urls and index in full_urls:
            entry["fullUrl"] = full_urls[index]
        entries.append(entry)
    document = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    if next_url:
        document["link"] = [{"relation": "next", "url": next_url}]
    return document


def as_bytes(document: dict) -> bytes:
    return json.dumps(document).encode()
