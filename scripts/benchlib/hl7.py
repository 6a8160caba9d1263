"""bench-hl7: HL7 v2 ADT messages per second over one MLLP connection, each ACK awaited before the next
message (as an interface engine sends), and the ACK latency (p50, p99). Goal: >= 500 messages/s on SQLite,
ACK p99 < 50 ms.

The listener runs as `callcenter hl7 listen` in its own process on a fresh database (SQLite file in var/, or
--database-url for PostgreSQL: an empty database, migrated here). The messages are a realistic mix written
for the benchmark: per patient an A04 registration, an A01 admission with allergy, diagnosis and next of kin,
an A08 update and an A03 discharge, across departments.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callcenter.db.database import Database
from callcenter.hl7.client import exchange

from .cpu import machine_cpu, process_cpu

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
DEPARTMENTS = ("Cardiology", "Orthopedics", "Medicine", "Surgery", "Pediatrics")


def main() -> None:
    p = argparse.ArgumentParser(prog="bench-hl7", description=__doc__)
    p.add_argument("--messages", type=int, default=4000)
    p.add_argument("--database-url", default="", help="default: a fresh SQLite file var/bench-hl7.db")
    p.add_argument("--port", type=int, default=2576)
    args = p.parse_args()
    url = args.database_url or _fresh_sqlite()
    Database(url).upgrade()
    server = _listener(url, args.port)
    try:
        batch = messages(args.messages)
        cpu, (busy, total) = process_cpu(server.pid), machine_cpu()
        figures = asyncio.run(measure(args.port, batch))
        figures |= _cpu_figures(server.pid, cpu, busy, total, len(batch))
    finally:
        server.terminate()
        server.wait(10)
    figures["database"] = url.split(":", 1)[0]
    print(json.dumps(figures, indent=2))
    (ROOT / "var" / "bench-hl7.json").write_text(json.dumps(figures, indent=2))


def _cpu_figures(pid: int, cpu: float, busy: float, total: float, count: int) -> dict:
    """The listener's CPU seconds per message (what an idle core would need: the honest figure on a loaded
    machine, where the wall time mostly waits), and the share of the machine other processes used."""
    spent = process_cpu(pid) - cpu
    busy_now, total_now = machine_cpu()
    return {"listener_cpu_seconds": round(spent, 2),
            "listener_cpu_ms_per_message": round(spent / count * 1000, 3),
            "machine_busy_share": round((busy_now - busy) / (total_now - total), 2)}


def _fresh_sqlite() -> str:
    path = ROOT / "var" / "bench-hl7.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def _listener(url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "CALLCENTER_DATABASE_URL": url, "CALLCENTER_HL7_MRN_SYSTEM": "GENHOSP",
           "CALLCENTER_LOGGING_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "callcenter.cli", "hl7", "listen", "--listen",
                               f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()  # "HL7 MLLP listener on ..." once it accepts connections
    if "listener on" not in line:
        raise SystemExit(f"the listener did not start: {line!r}")
    return server


def messages(count: int) -> list[bytes]:
    out = []
    for n in range(count):
        patient, step = divmod(n, 4)
        when = START + timedelta(seconds=n)
        out.append(_message(("A04", "A01", "A08", "A03")[step], f"B{n:08d}", f"BM{patient:07d}", when,
                            DEPARTMENTS[patient % len(DEPARTMENTS)]))
    return out


def _message(event: str, control_id: str, mrn: str, when: datetime, department: str) -> bytes:
    stamp = when.strftime("%Y%m%d%H%M%S+0000")
    pv1 = ["PV1", "1", "O" if event == "A04" else "I", f"{department[:4].upper()}^12^A^GENHOSP", "", "", "",
           "1234^Doc^Dana^^^Dr", "", "", department] + [""] * 8 + [f"V{mrn}"] + [""] * 16 + \
          ["01" if event == "A03" else ""] + [""] * 7 + [stamp, stamp if event == "A03" else ""]
    msh = f"MSH|^~\\&|EPIC|GENHOSP|CALLCENTER|GENHOSP|{stamp}||ADT^{event}^ADT_A01|{control_id}|P|2.5.1"
    segments = [msh, f"EVN|{event}|{stamp}",
                f"PID|1||{mrn}^^^GENHOSP^MR||Bench^Patient^^^^^L||19600101|F|||1 Main St^^Springfield^IL"
                f"^62701||^PRN^PH^^1^415^555{int(mrn[2:]) % 10000:04d}|||ENG",
                "|".join(pv1)]
    if event == "A01":
        segments += ["AL1|1|DA|^Penicillin|SV|Hives", "DG1|1||I21^Myocardial infarction^I10",
                     "NK1|1|Partner^Pat|SPO^Spouse||^PRN^PH^^1^415^5550150"]
    return ("\r".join(segments) + "\r").encode()


async def measure(port: int, batch: list[bytes]) -> dict:
    latencies, refused = [], 0
    started = last = time.perf_counter()
    async for ack in exchange("127.0.0.1", port, batch):
        now = time.perf_counter()
        latencies.append(now - last)
        last = now
        refused += b"MSA|AA|" not in ack
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"messages": len(batch), "not_accepted": refused, "seconds": round(elapsed, 2),
            "messages_per_second": round(len(batch) / elapsed, 1),
            "ack_p50_ms": round(statistics.median(latencies) * 1000, 2),
            "ack_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
            "ack_max_ms": round(latencies[-1] * 1000, 2), "load_average_1m": os.getloadavg()[0],
            "goal": ">= 500 messages/s, ACK p99 < 50 ms (SQLite)"}


if __name__ == "__main__":
    main()
