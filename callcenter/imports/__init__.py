"""Imports from the hospital's files and servers (issue 15): CSV of patients, appointments and encounters
(`csvfile.py`), FHIR R4 bundles and server polling (`fhir.py`, `fhirpoll.py`), all applied through the one
patient feed of callcenter/patients/ (`services.py`); the command line (`commands.py`) and the admin upload
page (`http.py`)."""
