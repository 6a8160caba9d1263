"""Patients as the hospital's systems send them (issue 15): one source-neutral record (`record.py`) that the
HL7 v2, FHIR and CSV mappings all produce, and one `apply` (`services.py`) that matches identity, upserts,
ignores older data, merges, and tells the follow-up campaigns about discharges and deaths."""
