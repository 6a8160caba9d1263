"""CPU time of processes and of the whole machine, read from /proc (Linux)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces and parentheses: fields are counted after the last ')'.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu(pid: int, tid: int) -> float:
    """utime + stime of one thread of a process, in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of all cores since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])       # guest time is already counted in user
    return (total - idle) / CLK_TCK, total / CLK_TCK


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


@dataclass(frozen=True)
class Snapshot:
    wall: float
    controller: float
    asterisk: float
    # The controller's main thread (its event loop); the rest of `controller` is its other threads, mostly the
    # database pool's, which a cProfile of the main thread (--profile) does not see.
    controller_loop: float
    bench: float
    machine_busy: float
    machine_total: float

    @classmethod
    def take(cls, controller_pid: int, asterisk_pid: int) -> "Snapshot":
        busy, total = machine_cpu()
        return cls(time.time(), process_cpu(controller_pid), process_cpu(asterisk_pid),
                   thread_cpu(controller_pid, controller_pid), own_cpu(), busy, total)

    def until(self, later: "Snapshot") -> dict:
        """CPU seconds spent between two snapshots; `other` is everything else on the machine."""
        d = {k: getattr(later, k) - getattr(self, k)
             for k in ("wall", "controller", "asterisk", "controller_loop", "bench", "machine_busy",
                       "machine_total")}
        d["other"] = d["machine_busy"] - d["controller"] - d["asterisk"] - d["bench"]
        d["cores"] = d["machine_total"] / d["wall"] if d["wall"] > 0 else 0.0
        return d


def _scheduled() -> tuple[float, float]:
    """(on a CPU, waiting in the run queue for one) seconds of this process's live threads: the kernel's
    schedstat, in nanoseconds."""
    running = waiting = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/schedstat") as f:
                on_cpu, queued, _ = f.read().split()
        except (OSError, ValueError):
            continue   # a thread that ended meanwhile
        running, waiting = running + int(on_cpu), waiting + int(queued)
    return running / 1e9, waiting / 1e9


class Stopwatch:
    """Where the wall time of a step went: CPU of this process (its threads: SQLite runs in them), time its
    threads waited for a CPU held by other processes (a busy machine's share), and the rest (blocked: disk,
    fsync, locks). Use `with Stopwatch() as watch:` then `watch.figures(prefix)`."""

    def __enter__(self) -> "Stopwatch":
        self._start = (time.perf_counter(), time.process_time(), *_scheduled())
        return self

    def __exit__(self, *exc) -> None:
        wall, cpu, _, waited = (time.perf_counter(), time.process_time(), *_scheduled())
        self.wall = wall - self._start[0]
        self.cpu = cpu - self._start[1]
        self.cpu_wait = max(0.0, waited - self._start[3])
        self.blocked = max(0.0, self.wall - self.cpu - self.cpu_wait)

    def figures(self, prefix: str) -> dict:
        return {f"{prefix}_seconds": round(self.wall, 3), f"{prefix}_cpu_seconds": round(self.cpu, 3),
                f"{prefix}_waiting_for_cpu_seconds": round(self.cpu_wait, 3),
                f"{prefix}_blocked_seconds": round(self.blocked, 3)}
