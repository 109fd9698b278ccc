"""This machine: what it is, and how busy other processes kept it while something was timed.

A time measured beside a test suite or a second training is 2-3x what the same work takes on a
quiet machine, so every timing the project writes carries the load it was measured under:

    with LoadMeter() as meter:
        estimator.fit(...)
    meter.record()   # {"other_cores": 0.04, "steal_cores": 0.0, "busy": False}

`other_cores` is the CPU time that processes other than the measured one used during the span
on the cores this process may run on (from /proc/stat's per-core lines, less this process's and
its reaped children's own CPU time), over the span's wall time: 1.0 means another process kept a
whole core busy throughout. `steal_cores` is the CPU the hypervisor gave other machines (under a
VM), which slows a timing just as much.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# Above this much CPU of other processes (or stolen by the hypervisor), on average over the
# span, a timing is "busy": shown as such and never the ground for a conclusion.
BUSY_CORES = 0.25
PROC_STAT = Path("/proc/stat")
# /proc/stat's cpu line: user nice system idle iowait irq softirq steal (guest is in user)
_BUSY_FIELDS, _STEAL_FIELD = (0, 1, 2, 5, 6), 7


def describe() -> dict:
    """The cores this process may use and the CPU model, as a run records them."""
    return {"cores": len(usable_cores()), "cpu": cpu_model(), "system": platform.system()}


def stamp(record: dict) -> dict:
    """A timing record with when and where it was measured."""
    return {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": describe(), **record}


def usable_cores() -> set[int]:
    """The cores this process may run on (its affinity: a cpuset, a Slurm allocation,
    `taskset`), which children inherit."""
    try:
        return os.sched_getaffinity(0)  # a cpuset or Slurm allocation: fewer than the host's
    except AttributeError:  # not on Linux
        return set(range(os.cpu_count() or 1))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


@dataclass(frozen=True)
class CpuSample:
    wall: float
    own: float  # CPU seconds of this process and its reaped children
    machine: float | None  # CPU seconds every process used, None where /proc/stat is not
    steal: float | None


def sample(stat: Path = PROC_STAT) -> CpuSample:
    t = os.times()
    own = t.user + t.system + t.children_user + t.children_system
    machine = steal = None
    try:
        cores = {f"cpu{n}" for n in usable_cores()}
        lines = [line.split() for line in stat.read_text().splitlines()
                 if line.split(maxsplit=1)[0] in cores]
        if lines:
            tick = os.sysconf("SC_CLK_TCK")
            fields = [[int(x) for x in line[1:]] for line in lines]
            machine = sum(f[i] for f in fields for i in _BUSY_FIELDS) / tick
            steal = sum(f[_STEAL_FIELD] for f in fields if len(f) > _STEAL_FIELD) / tick
    except (OSError, ValueError, IndexError):
        pass
    return CpuSample(time.perf_counter(), own, machine, steal)


def load_between(start: CpuSample, end: CpuSample) -> dict:
    """The load of other processes over the span from `start` to `end` (see the module)."""
    wall = end.wall - start.wall
    if start.machine is None or end.machine is None or wall <= 0:
        return {"other_cores": None, "steal_cores": None, "busy": None}
    other = max(0.0, (end.machine - start.machine) - (end.own - start.own)) / wall
    steal = max(0.0, end.steal - start.steal) / wall
    return _load(other, steal)


def _load(other: float, steal: float) -> dict:
    other, steal = round(other, 3), round(steal, 3)  # busy decided on what is stored
    return {"other_cores": other, "steal_cores": steal, "busy": other + steal > BUSY_CORES}


def is_busy(load: dict | None) -> bool:
    """Whether a timing may not ground a conclusion: measured busy, or under a load nobody
    measured (an old record, a machine without /proc/stat)."""
    return not load or load.get("busy") is not False


def combine(loads: list[tuple[dict, float]]) -> dict:
    """One load for several spans of (load, seconds): their time-weighted mean."""
    known = [(load, s) for load, s in loads if load and load.get("other_cores") is not None]
    seconds = sum(s for _, s in known)
    if not known or seconds <= 0:
        return {"other_cores": None, "steal_cores": None, "busy": None}
    other = sum(load["other_cores"] * s for load, s in known) / seconds
    steal = sum(load["steal_cores"] * s for load, s in known) / seconds
    return _load(other, steal)


def label(load: dict | None) -> str:
    """How a timing's load reads beside it: 'quiet (0.02 cores of other load)'."""
    if not load or load.get("other_cores") is None:
        return "load unknown"
    cores = load["other_cores"] + (load.get("steal_cores") or 0)
    return f"{'busy' if load['busy'] else 'quiet'} ({cores:.2f} cores of other load)"


class LoadMeter:
    """Measures the load of other processes over a `with` block (see the module)."""

    def __init__(self, sampler=sample):
        self._sample = sampler
        self._start = self._end = None

    def __enter__(self) -> LoadMeter:
        self._start, self._end = self._sample(), None
        return self

    def __exit__(self, *exc) -> None:
        self._end = self._sample()

    @property
    def seconds(self) -> float:
        end = self._end or self._sample()
        return end.wall - self._start.wall

    def record(self) -> dict:
        return load_between(self._start, self._end or self._sample())
