"""Imperative jobs (the original tool's queue): the job file model, ids, checks, submission, the queue.

A job file (``schemas/job-file.schema.json``) names one standalone firewall or the two members of one HA
pair, and a mode (upgrade, download-only or dry-run). It lives in ``queue/<state>/<job_id>.json``; the
folder *is* the job's state and the file is never rewritten, only moved. The engine reports progress in
``status/jobs/<job_id>.json`` (``reconciler.jobs.job_status``).

Writers (the CLI) go through ``submit``: every job is checked first, then all files are written, or none.
The engine goes through ``read_pending`` (valid jobs, oldest first; bad files moved to ``queue/rejected``
with a ``.reason``), then ``move`` (pending -> active -> completed/failed/cancelled) or ``reject``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.core.errors import InputFileError, StoreError, UserError
from reconciler.core.inventory import Inventory
from reconciler.core.upgrade_path import (
    NO_PATH,
    PathSpec,
    UpgradePathTable,
    find_path,
    parse_upgrade_paths_text,
    table_target,
)
from reconciler.core.version import PanOsVersion
from reconciler.jobs import intake
from reconciler.machine.records import Mode
from reconciler.workdir import schemas, store
from reconciler.workdir.layout import QUEUE_STATES, WorkPaths, safe_name

SCHEMA = "job-file"
STANDALONE = "standalone"
HA_PAIR = "ha_pair"
# The original tool wrote standalone download-only jobs with this type; read as standalone + download_only.
LEGACY_DOWNLOAD_ONLY = "download_only"
OPEN_STATES = ("pending", "active")
FINISHED_STATES = ("completed", "failed", "cancelled", "rejected")


@dataclass(frozen=True)
class JobSpec:
    """One job file's content. ``type`` is ``standalone`` or ``ha_pair`` (the legacy ``download_only``
    type is normalised on reading). ``devices`` keeps the file's order, which means nothing for pairs."""

    job_id: str
    type: str
    devices: tuple[str, ...]
    dry_run: bool = False
    download_only: bool = False
    target_version: str | None = None
    created_at: str = ""
    submitted_by: str = ""
    reason: str = ""
    ha_pair_name: str = ""

    @property
    def mode(self) -> Mode:
        """The device records' mode. A dry run wins over download-only (it changes nothing at all)."""
        if self.dry_run:
            return Mode.DRY_RUN
        return Mode.DOWNLOAD_ONLY if self.download_only else Mode.UPGRADE

    @property
    def is_ha_pair(self) -> bool:
        return self.type == HA_PAIR

    @property
    def kind_text(self) -> str:
        """``upgrade``, ``download-only`` or ``dry-run`` (for people)."""
        return {Mode.UPGRADE: "upgrade", Mode.DOWNLOAD_ONLY: "download-only", Mode.DRY_RUN: "dry-run"}[
            self.mode
        ]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "job_id": self.job_id,
            "type": self.type,
            "devices": list(self.devices),
            "dry_run": self.dry_run,
            "download_only": self.download_only,
        }
        if self.target_version is not None:
            data["target_version"] = self.target_version
        for name in ("created_at", "submitted_by", "reason", "ha_pair_name"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobSpec:
        """Build from a job file that already matches the schema (``intake.read`` checked it)."""
        type_ = data["type"]
        download_only = bool(data.get("download_only", False))
        if type_ == LEGACY_DOWNLOAD_ONLY:
            type_, download_only = STANDALONE, True
        target = data.get("target_version")
        return cls(
            job_id=data["job_id"],
            type=type_,
            devices=tuple(data["devices"]),
            dry_run=bool(data.get("dry_run", False)),
            download_only=download_only,
            target_version=str(PanOsVersion.parse(target)) if target is not None else None,
            created_at=str(data.get("created_at", "")),
            submitted_by=str(data.get("submitted_by", "")),
            reason=str(data.get("reason", "")),
            ha_pair_name=str(data.get("ha_pair_name", "")),
        )


@dataclass(frozen=True)
class QueuedJob:
    """A file found in a queue folder. ``spec`` is ``None`` when the file cannot be read as a job (always
    so for damaged files in ``rejected``); ``reason`` is the ``.reason`` text of a rejected file."""

    job_id: str
    state: str
    path: Path
    spec: JobSpec | None = None
    reason: str = ""
    mtime: float = field(default=0.0, compare=False)


# -- ids -------------------------------------------------------------------------------------------------


def new_job_id(now: datetime, token: str | None = None) -> str:
    """A fresh id, ``job-YYYYMMDD-HHMMSS-<6 hex>`` (UTC stamp of ``now``; ``token`` for tests)."""
    stamp = now.strftime("%Y%m%d-%H%M%S")
    return f"job-{stamp}-{token if token is not None else secrets.token_hex(3)}"


def check_job_id(value: str) -> str:
    """``value`` if it is a safe job id (a file name, never a path), else ``UserError``."""
    return safe_name(value, "job id")


# -- the queue -----------------------------------------------------------------------------------------


def _job_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return [
        p
        for p in directory.iterdir()
        if p.suffix == ".json" and not p.name.startswith(".") and p.is_file() and not p.is_symlink()
    ]


def _read_spec(path: Path) -> JobSpec:
    """Read a job file we (or the engine) already accepted; ``intake.Rejected`` if it is not a job."""
    return JobSpec.from_json(intake.read(path, SCHEMA, allowed_uids=(os.getuid(), 0, _owner(path))).data)


def _owner(path: Path) -> int:
    try:
        return path.lstat().st_uid
    except FileNotFoundError:
        return os.getuid()


def queued(paths: WorkPaths, states: Iterable[str] = QUEUE_STATES) -> list[QueuedJob]:
    """Every job file in the given queue folders, oldest first. Read-only: nothing is moved."""
    out = [_load(path, state) for state in states for path in _job_files(paths.queue(state))]
    return sorted(out, key=lambda j: (j.mtime, j.job_id))


def _load(path: Path, state: str) -> QueuedJob:
    reason = ""
    spec: JobSpec | None
    try:
        spec = _read_spec(path)
    except (intake.Rejected, ValueError) as exc:
        spec, reason = None, str(exc)
    if state == "rejected":
        with contextlib.suppress(OSError):
            reason = path.with_name(path.name + ".reason").read_text(encoding="utf-8").strip() or reason
    job_id = spec.job_id if spec is not None else path.stem
    return QueuedJob(job_id, state, path, spec, reason, _mtime(path))


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


def find(paths: WorkPaths, job_id: str) -> QueuedJob | None:
    """The job with this id in any queue state (``None`` if none). The id is checked first."""
    check_job_id(job_id)
    for state in QUEUE_STATES:
        path = paths.queue(state) / f"{job_id}.json"
        if path.is_file() and not path.is_symlink():
            return _load(path, state)
    return None


def adopt_stray_active(paths: WorkPaths, started: Iterable[str]) -> list[str]:
    """At engine start-up: jobs in ``queue/active`` the engine never put there (dropped straight into it)
    would stay active forever. A job file there that no device record (``started``: the job ids of the
    loaded records) and no job status file knows is moved back to ``queue/pending``, to be checked and
    started like any new job; one that is not a valid job, or whose id is already pending, is moved to
    ``queue/rejected`` with a ``.reason``. Returns one line per file handled, saying what and why."""
    known = set(started)
    lines = []
    for job in queued(paths, ("active",)):
        if job.spec is None:
            intake.reject(job.path, paths.queue("rejected"), f"found in queue/active: {job.reason}")
            lines.append(f"job file {job.path.name} in queue/active rejected: {job.reason}")
            continue
        if job.job_id in known or paths.job_status_file(job.job_id).exists():
            continue
        pending = paths.queue("pending") / job.path.name
        if pending.exists():
            why = f"found in queue/active, not started by the engine, and {pending.name} is already pending"
            intake.reject(job.path, paths.queue("rejected"), why)
            lines.append(f"job {job.job_id} in queue/active rejected: {why}")
            continue
        pending.parent.mkdir(parents=True, exist_ok=True)
        os.rename(job.path, pending)
        lines.append(
            f"job {job.job_id} found in queue/active without any device started for it: moved to "
            "queue/pending, to be checked and started like a new job (the web application drops jobs there)"
        )
    return lines


def open_jobs_by_device(paths: WorkPaths) -> dict[str, QueuedJob]:
    """serial -> the pending or active job that names it (the oldest when several do)."""
    out: dict[str, QueuedJob] = {}
    for job in queued(paths, OPEN_STATES):
        if job.spec is not None:
            for serial in job.spec.devices:
                out.setdefault(serial, job)
    return out


def move(paths: WorkPaths, job_id: str, to_state: str) -> Path:
    """Move the job file to ``queue/<to_state>/`` (from whatever state it is in); return the new path.

    Raises ``UserError`` for an unknown job and ``ValueError`` for an unknown state. Moving to the state it
    is already in is a no-op.
    """
    dest_dir = paths.queue(to_state)
    job = find(paths, job_id)
    if job is None:
        raise UserError(f"no job {job_id!r} in any queue folder")
    if job.state == to_state:
        return job.path
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / job.path.name
    if dest.exists():
        raise StoreError(f"cannot move job {job_id} to {to_state}: {dest} already exists")
    os.rename(job.path, dest)
    return dest


def reject(paths: WorkPaths, job_id: str, reason: str) -> Path:
    """Move a job (pending, usually) to ``queue/rejected`` with ``<file>.reason``."""
    job = find(paths, job_id)
    if job is None:
        raise UserError(f"no job {job_id!r} in any queue folder")
    return intake.reject(job.path, paths.queue("rejected"), reason)


def mark_cancelled(paths: WorkPaths, job_id: str) -> Path | None:
    """Move a pending or active job to ``cancelled`` (its devices that never started never will); return
    the new path, or ``None`` when the job is already finished (nothing to move)."""
    job = find(paths, job_id)
    if job is None:
        raise UserError(f"no job {job_id!r} in any queue folder")
    if job.state not in OPEN_STATES:
        return None
    return move(paths, job_id, "cancelled")


# -- checks against the inventory ----------------------------------------------------------------------


def unknown_serial(inventory: Inventory, serial: str) -> str:
    """The message for a serial missing from the inventory (with a hint when a spreadsheet ate zeros)."""
    hint = ""
    if serial.isdigit():
        padded = [s for s in inventory.devices if s.isdigit() and s.lstrip("0") == serial.lstrip("0")]
        if padded and serial not in padded:
            hint = f"; did a spreadsheet drop leading zeros? (inventory has {padded[0]})"
    return f"serial {serial!r} is not in the inventory (run 'panos-upgrade device discover'){hint}"


def standalone_problem(inventory: Inventory, serial: str, pair_hint: str) -> str | None:
    """Why ``serial`` cannot be a standalone job (``None`` if it can). ``pair_hint`` tells HA members'
    users what to do instead (e.g. "use 'panos-upgrade upgrade-ha-pairs' with a serial_1,serial_2 CSV")."""
    dev = inventory.get(serial)
    if dev is None:
        return unknown_serial(inventory, serial)
    if dev.device_type == "ha_pair" or dev.peer_serial:
        peer = dev.peer_serial or "unknown"
        return (
            f"serial {serial!r} is a member of an HA pair (peer {peer}); "
            f"both members are upgraded together: {pair_hint}"
        )
    if dev.device_type != "standalone":
        return (
            f"serial {serial!r}: discovery could not tell whether it is standalone or in an HA pair "
            f"({dev.error or 'device_type unknown'}); re-run 'panos-upgrade device discover'"
        )
    return None


def pair_problem(inventory: Inventory, first: str, second: str) -> str | None:
    """Why ``first``/``second`` (any order) are not one HA pair of the inventory (``None`` if they are)."""
    if first == second:
        return f"both serials are {first!r}; an HA pair has two different members"
    missing = [s for s in (first, second) if s not in inventory]
    if missing:
        return "; ".join(unknown_serial(inventory, s) for s in missing)
    a, b = inventory.devices[first], inventory.devices[second]
    if a.peer_serial == second and b.peer_serial == first:
        return None
    described = []
    for dev in (a, b):
        if dev.device_type == "standalone":
            described.append(f"{dev.serial} is standalone")
        elif dev.peer_serial:
            described.append(f"{dev.serial}'s peer is {dev.peer_serial}")
        else:
            described.append(f"{dev.serial} has no known peer")
    return f"{first!r} and {second!r} are not an HA pair in the inventory ({', '.join(described)})"


def target_problem(inventory: Inventory, serials: Sequence[str], target: str | None) -> str | None:
    """A target below a device's current version is a downgrade, which is never done; ``None`` if fine."""
    if target is None:
        return None
    wanted = PanOsVersion.parse(target)
    for serial in serials:
        dev = inventory.get(serial)
        current = PanOsVersion.try_parse(dev.sw_version) if dev is not None else None
        if current is not None and wanted < current:
            return f"target {wanted} is below {serial}'s current version {current} (downgrades are refused)"
    return None


def spec_problems(spec: JobSpec, inventory: Inventory) -> list[str]:
    """Every reason the inventory gives to refuse ``spec`` (empty when it is fine)."""
    problems = []
    if spec.type == HA_PAIR:
        if len(spec.devices) != 2:
            problems.append("an ha_pair job names exactly two serials")
        else:
            problem = pair_problem(inventory, *spec.devices)
            if problem:
                problems.append(problem)
    else:
        for serial in spec.devices:
            dev = inventory.get(serial)
            peer = dev.peer_serial if dev is not None and dev.peer_serial else "PEER"
            problem = standalone_problem(
                inventory, serial, f"use 'panos-upgrade job submit --ha-pair {serial} {peer}'"
            )
            if problem:
                problems.append(problem)
    if not problems:
        problem = target_problem(inventory, spec.devices, spec.target_version)
        if problem:
            problems.append(problem)
    return problems


def path_problem(spec: JobSpec, inventory: Inventory, table: UpgradePathTable) -> str | None:
    """The device whose inventory version no upgrade path leads from to the job's target (``None`` if every
    device has one, or when the inventory cannot tell: a path needing intermediate releases depends on the
    device's offered images, which the engine fetches; the engine fails such a job with ``no-path``).

    The target is the job's, else the end of the device's path in ``upgrade_paths.json`` (a desired-state
    group's target is only known to the engine). Paths are computed as the engine computes them."""
    wanted = PanOsVersion.try_parse(spec.target_version) if spec.target_version else None
    for serial in spec.devices:
        dev = inventory.get(serial)
        current = PanOsVersion.try_parse(dev.sw_version) if dev is not None else None
        if current is None:
            continue
        target = wanted or table_target(table, current)
        if target is None or target == current:
            continue
        how: PathSpec = "table" if current in table else "auto"
        path = find_path(current, target, spec=how, table=table, ha=spec.type == HA_PAIR)
        if path.reason == NO_PATH:
            return f"no upgrade path from {current} to {target} for {serial}: {path.detail}"
    return None


def read_table(paths: WorkPaths) -> UpgradePathTable:
    """``config/upgrade_paths.json`` for the submission checks (missing or unreadable: empty; the engine
    reports an unreadable file)."""
    try:
        return parse_upgrade_paths_text(
            paths.upgrade_paths_file.read_text(encoding="utf-8"), str(paths.upgrade_paths_file)
        )
    except (OSError, InputFileError):
        return {}


def conflict(spec: JobSpec, open_jobs: Mapping[str, QueuedJob]) -> str | None:
    """A device of ``spec`` already in another pending/active job (``None`` if none)."""
    for serial in spec.devices:
        other = open_jobs.get(serial)
        if other is not None and other.job_id != spec.job_id:
            return (
                f"serial {serial!r} is already in {other.state} job {other.job_id}; "
                f"wait for it or cancel it first ('panos-upgrade job cancel {other.job_id}')"
            )
    return None


# -- submission (CLI) ----------------------------------------------------------------------------------


def submit(paths: WorkPaths, specs: Sequence[JobSpec], inventory: Inventory) -> list[Path]:
    """Write every job of ``specs`` to ``queue/pending/<job_id>.json``, all or none.

    Checks each job (schema, safe unique id unused in every queue folder, inventory, an upgrade path from
    each device's inventory version to the target, devices not already in an open job nor twice in
    ``specs``) and raises ``InputFileError`` listing every problem, writing nothing. Then stages hidden
    temp files (the engine ignores dot-files), and renames them in place.
    """
    problems: list[str] = []
    table = read_table(paths)
    existing = {job.job_id for job in queued(paths)}
    open_jobs = open_jobs_by_device(paths)
    seen_ids: set[str] = set()
    seen_serials: dict[str, str] = {}
    for spec in specs:
        label = f"job {spec.job_id}"
        try:
            check_job_id(spec.job_id)
        except UserError as exc:
            problems.append(str(exc))
            continue
        problems += [f"{label}: {p}" for p in schemas.errors(SCHEMA, spec.to_json())]
        if spec.job_id in existing or spec.job_id in seen_ids:
            problems.append(f"{label}: job id already used (see 'panos-upgrade job show {spec.job_id}')")
        seen_ids.add(spec.job_id)
        spec_issues = spec_problems(spec, inventory)
        problems += [f"{label}: {p}" for p in spec_issues]
        no_path = None if spec_issues else path_problem(spec, inventory, table)
        if no_path:
            problems.append(f"{label}: {no_path}")
        clash = conflict(spec, open_jobs)
        if clash:
            problems.append(f"{label}: {clash}")
        for serial in spec.devices:
            if serial in seen_serials:
                problems.append(f"{label}: serial {serial!r} is also in job {seen_serials[serial]}")
            seen_serials.setdefault(serial, spec.job_id)
    if problems:
        if len(problems) == 1:
            raise InputFileError(f"{problems[0]}; nothing queued", problems)
        noun = "job" if len(specs) == 1 else "jobs"
        raise InputFileError(f"nothing queued: {len(problems)} problems with the {noun}", problems)
    return _write_all(paths.queue("pending"), specs)


def _write_all(directory: Path, specs: Sequence[JobSpec]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for spec in specs:
            final = directory / f"{spec.job_id}.json"
            tmp = directory / f".{spec.job_id}.json.staged"
            store.atomic_write_text(tmp, json.dumps(spec.to_json(), indent=2) + "\n", mode=0o640)
            staged.append((tmp, final))
        for _tmp, final in staged:
            if final.exists():
                raise StoreError(f"{final} appeared while jobs were being queued; nothing queued")
        for tmp, final in staged:
            os.rename(tmp, final)
    except BaseException:
        for tmp, _final in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    return [final for _tmp, final in staged]


# -- the engine's side -----------------------------------------------------------------------------------


def read_pending(paths: WorkPaths, inventory: Inventory | None = None) -> list[JobSpec]:
    """The valid jobs waiting in ``queue/pending``, oldest first; every bad file is moved to
    ``queue/rejected`` with a ``.reason`` and has no other effect.

    Bad means: unreadable or not matching the schema (``intake.read``), a file name other than
    ``<job_id>.json``, a job id already used in another queue folder, and, when ``inventory`` is given,
    unknown serials, a standalone job naming an HA member, two serials that are not one pair, a downgrade
    target, or a device already in an active job or in an older pending one. Accepted jobs stay in
    ``pending`` until the engine moves them (``move(paths, id, "active")``) or rejects them (``reject``).
    """
    pending_dir = paths.queue("pending")
    rejected_dir = paths.queue("rejected")
    others = {job.job_id: job.state for job in queued(paths, [s for s in QUEUE_STATES if s != "pending"])}
    busy = {
        serial: job
        for job in queued(paths, ("active",))
        if job.spec is not None
        for serial in job.spec.devices
    }
    accepted: list[JobSpec] = []
    for path in intake.pending_files(pending_dir):
        try:
            spec = JobSpec.from_json(intake.read(path, SCHEMA).data)
            problems = _engine_problems(path, spec, others, busy, inventory)
        except intake.Rejected as exc:
            problems = [str(exc)]
        except (ValueError, UserError) as exc:
            problems = [f"{path.name}: {exc}"]
        if problems:
            intake.reject(path, rejected_dir, "; ".join(problems))
            continue
        accepted.append(spec)
        for serial in spec.devices:
            busy.setdefault(serial, QueuedJob(spec.job_id, "pending", path, spec))
    return accepted


def _engine_problems(
    path: Path,
    spec: JobSpec,
    others: Mapping[str, str],
    busy: Mapping[str, QueuedJob],
    inventory: Inventory | None,
) -> list[str]:
    # The schema's patterns end in '$', which lets a trailing newline through; ids become file names.
    check_job_id(spec.job_id)
    for serial in spec.devices:
        safe_name(serial, "serial")
    if path.name != f"{spec.job_id}.json":
        return [f"{path.name}: file name must be {spec.job_id}.json (the job id)"]
    if spec.job_id in others:
        return [f"{path.name}: job id {spec.job_id} already used (queue/{others[spec.job_id]})"]
    problems = []
    if inventory is not None:
        problems += [f"{path.name}: {p}" for p in spec_problems(spec, inventory)]
    clash = conflict(spec, busy)
    if clash:
        problems.append(f"{path.name}: {clash}")
    return problems
