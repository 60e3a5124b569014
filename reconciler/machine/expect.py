"""How long this fleet's reboots and jobs take, learned from their own completed ones. Pure.

When a device answers again after a reboot its uptime says when it booted, so the time from the restart
request to the boot (``RebootWatch.booted_after``) is exact whatever the polling lag. Samples and windows are
in the devices' seconds (a time-scaled simulator's too), so they stay true if ``engine.time_scale`` changes.
The executor keeps the last ``KEEP`` such samples (``status/durations.json``, so a restarted engine keeps what it learned) and hands
their ``Window`` to the machine in ``MachineSettings.expected``; the reboot wait (``reboot.py``) polls once
at the window's start and densely inside it, instead of backing off blindly. Reboots are also kept per
hardware model (``MachineSettings.model``, from the inventory): a model's own window, once it has enough
samples, is narrower than the fleet's. Without enough samples the settings' prior window applies.

Jobs the same way, per kind (``JobKind`` values: download, install, content download/install): when a poll
finds our job finished and succeeded, the executor keeps how long it took (``job_sample``: from the
submission to the end its last progress reading put it at, never more than the time to the poll that saw
it). The job poll (``downloads``) then puts its first poll at the start of the kind's window and polls by
progress rate from there, instead of first after ``job_first_poll`` whatever the job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.machine.commands import JobKind
from reconciler.machine.records import DeviceRecord, Instant, JobRef, to_instant

KEEP = 200  # samples kept per kind: recent enough to follow a fleet whose mix changes
MIN_SAMPLES = 3  # fewer than this: the prior window applies
REBOOT = "reboot"
# The job kinds learned (``JobKind`` values; jobs of kind ``other`` are not ours to time).
JOBS = tuple(k.value for k in JobKind if k is not JobKind.OTHER)
KINDS = (REBOOT, *JOBS)
# Reboots are kept per hardware model too (``reboot@PA-3220``): a model's window is narrower than the
# fleet's mix of models, so fewer polls find the device still down. Bounded: the fleet's models.
MODEL_REBOOT = REBOOT + "@"
MAX_MODELS = 64
MAX_MODEL_CHARS = 64


@dataclass(frozen=True)
class Window:
    """Where a duration is expected to fall (seconds): from ``low`` to ``high``."""

    low: float
    high: float


@dataclass(frozen=True)
class Expected:
    """What was learned: the reboot window (``None`` while too few reboots finished) and the window of each
    job kind (``JobKind`` value; absent while too few jobs of that kind finished)."""

    reboot: Window | None = None
    jobs: tuple[tuple[str, Window], ...] = ()  # (kind, window), in ``JOBS`` order (hashable, like settings)
    models: tuple[tuple[str, Window], ...] = ()  # (hardware model, its reboot window)

    def reboot_of(self, model: str) -> Window | None:
        """The reboot window of ``model`` once enough of its reboots finished, else the fleet's."""
        return next((w for m, w in self.models if m == model), None) if model else None

    def job(self, kind: JobKind) -> Window | None:
        """The learned window of a job kind, in device seconds (``None``: not enough finished yet)."""
        return next((w for k, w in self.jobs if k == kind.value), None)


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values (nearest rank)."""
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def window(samples: Iterable[float]) -> Window | None:
    """The window of a kind's samples: 5th to 95th percentile, widened by 5% either way (few samples
    underestimate the spread); ``None`` with fewer than ``MIN_SAMPLES``."""
    ordered = sorted(s for s in samples if s > 0)
    if len(ordered) < MIN_SAMPLES:
        return None
    return Window(quantile(ordered, 0.05) * 0.95, quantile(ordered, 0.95) * 1.05)


def expected(samples: Mapping[str, Sequence[float]]) -> Expected:
    """The ``Expected`` of the samples kept per kind."""
    jobs = tuple((kind, w) for kind in JOBS if (w := window(samples.get(kind, ()))) is not None)
    models = tuple(
        (key[len(MODEL_REBOOT) :], w)
        for key in sorted(samples)
        if key.startswith(MODEL_REBOOT) and (w := window(samples[key])) is not None
    )
    return Expected(reboot=window(samples.get(REBOOT, ())), jobs=jobs, models=models)


def add(samples: Sequence[float], value: float) -> tuple[float, ...]:
    """``samples`` with ``value`` appended, the oldest dropped beyond ``KEEP``."""
    return (*samples, value)[-KEEP:]


def samples_from(
    old: DeviceRecord | None, new: DeviceRecord, device_second: float = 1.0, model: str = ""
) -> list[tuple[str, float]]:
    """The durations a transition has just measured: (kind, device seconds); ``device_second`` is our
    seconds per device second (``MachineSettings.device_second``). A reboot counts for the fleet and, when
    the device's ``model`` is known, for that model."""
    got = new.reboot.booted_after if new.reboot is not None else None
    before = old.reboot.booted_after if old is not None and old.reboot is not None else None
    if got is not None and before is None and got > 0:
        seconds = got / device_second
        return [(REBOOT, seconds), *([(MODEL_REBOOT + model, seconds)] if model_key_ok(model) else [])]
    return []


def model_key_ok(model: str) -> bool:
    """A model name usable as a key of ``durations.json`` (printable, bounded)."""
    return 0 < len(model) <= MAX_MODEL_CHARS and model.isprintable()


def job_sample(job: JobRef, now: Instant, device_second: float = 1.0) -> tuple[str, float] | None:
    """How long a job that a poll has just (``now``) seen finished and succeeded took: (kind, device seconds).

    From the submission (``job.started_at``) to that poll, or to the end the last progress reading
    (``job.progress`` percent at ``job.progress_at``) allows if sooner: PAN-OS shows whole percents, so a
    reading of ``p`` percent ``t`` seconds in puts the end no later than ``t * 100 / p``. So the polling
    lag is not learned as job time. ``None`` for jobs not ours to time."""
    started = to_instant(job.started_at)
    took = (to_instant(now) - started).total_seconds()
    if job.kind is JobKind.OTHER or took <= 0:
        return None
    read_after = (to_instant(job.progress_at) - started).total_seconds()
    if 0 < job.progress < 100 and read_after > 0:
        took = min(took, read_after * 100 / job.progress)
    return (job.kind.value, took / device_second)


def from_json(data: Any) -> dict[str, tuple[float, ...]]:
    """The samples of a ``status/durations.json`` body; what is not a list of positive numbers is dropped."""
    out: dict[str, tuple[float, ...]] = {}
    if not isinstance(data, Mapping):
        return out
    models = [k for k in data if isinstance(k, str) and k.startswith(MODEL_REBOOT)]
    models = [k for k in models if model_key_ok(k[len(MODEL_REBOOT) :])][:MAX_MODELS]
    for kind in (*KINDS, *models):
        values = data.get(kind)
        if isinstance(values, list):
            good = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
            out[kind] = tuple(v for v in good if v > 0)[-KEEP:]
    return out


def known(samples: Mapping[str, Sequence[float]], kind: str) -> bool:
    """Is ``kind`` one to keep? The fixed kinds, and a model's reboots while fewer than ``MAX_MODELS``."""
    if kind in KINDS or kind in samples:
        return True
    models = sum(1 for k in samples if k.startswith(MODEL_REBOOT))
    return kind.startswith(MODEL_REBOOT) and models < MAX_MODELS


def to_json(samples: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    keys = [*KINDS, *sorted(k for k in samples if k.startswith(MODEL_REBOOT))]
    return {"format_version": 1, **{k: [round(v, 3) for v in samples[k]] for k in keys if samples.get(k)}}
