"""Red-flag triage and call scripts (issue 5).

- `schema.py`: the disposition ladder (`dispositions.yaml`), the protocols (`protocols/*.yaml`) and the
  protocol suggestions (`suggestions.yaml`), all validated on load with errors naming file and line.
- `services.py`: `TriageSession` (pure: questions in acuity order, the first 'yes' decides) and
  `TriageService` (sessions per call, persisted as `triage_*` call events).
- `guide.py`: call scripts per call type (`scripts/*.j2`), rendered step by step.
- `suggestions.py`: `Suggester`, the protocols ranked from what the caller says (text + language).

All clinical wording here is EXAMPLE CONTENT that requires clinical review before use with patients.
"""
