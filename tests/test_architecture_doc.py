"""docs/ARCHITECTURE.md is the newcomer's map: it must name every package and only files that exist."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text()


def test_given_the_architecture_document_when_read_then_every_package_of_callcenter_is_named():
    packages = sorted(p.parent.name for p in (ROOT / "callcenter").glob("*/__init__.py"))
    missing = [name for name in packages if f"callcenter/{name}/" not in DOC and f"`{name}/" not in DOC]
    assert missing == []


def test_given_the_architecture_document_when_it_names_a_callcenter_path_then_the_path_exists():
    named = set(re.findall(r"callcenter/[A-Za-z0-9_/]+(?:\.py)?", DOC))  # digits: callcenter/hl7/
    absent = sorted(path for path in named if not (ROOT / path.rstrip("/")).exists())
    assert absent == []
