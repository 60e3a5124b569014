"""The figures the reliability suite measures, and ``docs/reliability.md`` rendered from them.

Tests record what they did through the ``figures`` fixture (``figures.add("kills", 1)``,
``figures.note("chaos.firewalls", 240)``). When the environment variable ``RELIABILITY_REPORT`` is set, the
session's figures are saved to ``tests/reliability/results/<fast|slow>.json`` and the document is rendered
from both files, so each subset can be re-run on its own:

    RELIABILITY_REPORT=1 .venv/bin/pytest tests/reliability            # fast subset
    RELIABILITY_REPORT=1 .venv/bin/pytest -m slow tests/reliability    # slow subset
    .venv/bin/python -m tests.reliability.figures                      # re-render only

Without the variable (CI, a developer's run) nothing is written. The results folder is not kept in git;
the document carries a copy of the results it was rendered from (a comment at its end), so re-running one
subset on a fresh checkout keeps the other subset's figures.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DOC = HERE.parents[1] / "docs" / "reliability.md"
ENV = "RELIABILITY_REPORT"

# The headline figures, in the order the document shows them.
HEADLINE = (
    ("kills", "daemon processes killed with SIGKILL and restarted"),
    ("faults_injected", "faults injected into simulated devices"),
    ("bad_inputs", "hostile inputs tried (corpus files, generated files, CLI argument vectors)"),
    ("fuzz_examples", "property-based (hypothesis) examples run"),
    ("devices", "simulated firewalls driven"),
    ("safety_logs", "simulator event logs checked by the shared safety oracle (tests/safety.py)"),
    ("violations", "violations found (safety invariants, lost files, crashes, leaked secrets)"),
)


@dataclass
class TestRecord:
    __test__ = False

    nodeid: str
    slow: bool
    outcome: str = "not run"
    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    notes: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "slow": self.slow,
            "outcome": self.outcome,
            "seconds": round(self.seconds, 2),
            "counts": dict(sorted(self.counts.items())),
            "notes": self.notes,
        }


class TestFigures:
    __test__ = False  # not a test class, despite the name

    """What one test hands to the report."""

    def __init__(self, record: TestRecord) -> None:
        self._record = record

    def add(self, key: str, n: int = 1) -> None:
        self._record.counts[key] += n

    def note(self, key: str, value: Any) -> None:
        self._record.notes[key] = value


class Session:
    def __init__(self) -> None:
        self.tests: dict[str, TestRecord] = {}

    def for_test(self, nodeid: str, slow: bool) -> TestFigures:
        record = self.tests.setdefault(nodeid, TestRecord(nodeid, slow))
        record.slow = slow
        return TestFigures(record)

    def finished(self, nodeid: str, slow: bool, outcome: str, seconds: float) -> None:
        record = self.tests.setdefault(nodeid, TestRecord(nodeid, slow))
        record.seconds += seconds
        if record.outcome in ("not run", "passed") or outcome == "failed":
            record.outcome = outcome

    def save(self, argv: list[str]) -> list[Path]:
        """Write one results file per subset that ran; return the files written."""
        written = []
        RESULTS.mkdir(exist_ok=True)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for subset, slow in (("fast", False), ("slow", True)):
            ran = [t for t in self.tests.values() if t.slow is slow and t.outcome != "not run"]
            if not ran:
                continue
            # A partial run (one file, -k) updates its tests and keeps the others' last results.
            previous = load(subset) or {}
            merged = {t["nodeid"]: t for t in previous.get("tests", [])}
            merged.update({t.nodeid: {**t.to_json(), "run_at": now} for t in ran})
            tests = [merged[k] for k in sorted(merged)]
            doc = {
                "subset": subset,
                "finished_at": now,
                "command": " ".join(argv).replace(str(HERE.parents[1]) + os.sep, ""),
                "machine": machine(),
                "totals": dict(sorted(sum((Counter(t["counts"]) for t in tests), Counter()).items())),
                "tests": tests,
            }
            path = RESULTS / f"{subset}.json"
            path.write_text(json.dumps(doc, indent=2) + "\n")
            written.append(path)
        return written


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
    }


def load(subset: str) -> dict[str, Any] | None:
    """The last results of ``subset``: the local results file, else the copy embedded in the document (the
    results folder is not kept in git; the document is, so a fresh checkout keeps the other subset's)."""
    path = RESULTS / f"{subset}.json"
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    embedded: dict[str, Any] | None = _embedded().get(subset)
    return embedded


_DATA_START = "<!-- figures-data"


def _embedded() -> dict[str, Any]:
    if not DOC.exists():
        return {}
    text = DOC.read_text()
    start = text.find(_DATA_START)
    end = text.find("-->", start)
    if start < 0 or end < 0:
        return {}
    try:
        data: dict[str, Any] = json.loads(text[start + len(_DATA_START) : end])
    except ValueError:
        return {}
    return data


def _data_block(fast: dict[str, Any] | None, slow: dict[str, Any] | None) -> str:
    data = {k: v for k, v in (("fast", fast), ("slow", slow)) if v is not None}
    # An HTML comment must not contain "--"; the JSON escape keeps the text the same data.
    text = json.dumps(data, separators=(",", ":")).replace("--", "-\\u002d")
    return f"{_DATA_START}\n{text}\n-->"


def render() -> str:
    fast, slow = load("fast"), load("slow")
    lines = [
        "# Reliability and security: measured",
        "",
        "<!-- GENERATED by tests/reliability (figures.py) from tests/reliability/results/*.json;",
        "     do not edit by hand. Regenerate with the commands below. -->",
        "",
        "What the reliability suite (`tests/reliability/`) did the last time each subset ran, with the",
        "figures it measured. Every figure below was counted by the tests themselves; a violation makes the",
        "test that found it fail.",
        "",
        "Regenerate:",
        "",
        "    RELIABILITY_REPORT=1 .venv/bin/pytest tests/reliability            # fast subset (also in CI)",
        "    RELIABILITY_REPORT=1 .venv/bin/pytest -m slow tests/reliability    # slow subset (chaos, faults, load)",
        "",
        "## Headline",
        "",
        "| figure | fast subset | slow subset | total |",
        "|---|---|---|---|",
    ]
    ft = Counter(fast["totals"]) if fast else Counter()
    st = Counter(slow["totals"]) if slow else Counter()
    for key, label in HEADLINE:
        lines.append(f"| {label} | {ft[key]:,} | {st[key]:,} | {ft[key] + st[key]:,} |")
    lines.append("")
    for title, data in (("Fast subset", fast), ("Slow subset", slow)):
        lines += _section(title, data)
    lines += _explanations()
    lines += _round_two()
    lines.append(_data_block(fast, slow))
    return "\n".join(lines).rstrip() + "\n"


def _section(title: str, data: dict[str, Any] | None) -> list[str]:
    lines = [f"## {title}", ""]
    if data is None:
        return [*lines, "Not run yet.", ""]
    m = data["machine"]
    tests = data["tests"]
    passed = sum(1 for t in tests if t["outcome"] == "passed")
    seconds = sum(t["seconds"] for t in tests)
    runs = sorted({t.get("run_at", data["finished_at"]) for t in tests})
    when = runs[-1] if len(runs) == 1 else f"{runs[0]} to {runs[-1]}"
    lines += [
        f"Last run {when} on {m['cpus']} CPUs, Python {m['python']} ({m['platform']}): "
        f"{passed} of {len(tests)} tests passed in {seconds:,.0f} s of test time.",
        "",
        "| test | result | s | figures |",
        "|---|---|---|---|",
    ]
    for name, group in _by_test(tests).items():
        outcomes = Counter(t["outcome"] for t in group)
        result = (
            ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))
            if len(group) > 1
            else group[0]["outcome"]
        )
        counts: Counter[str] = Counter()
        for t in group:
            counts.update(t["counts"])
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
        seconds = sum(t["seconds"] for t in group)
        lines.append(f"| `{name}` | {result} | {seconds:.1f} | {shown} |")
    notes = [(Path(t["nodeid"].partition("::")[0]).name + "::" + t["nodeid"].partition("::")[2], t["notes"])
             for t in tests if t["notes"]]  # fmt: skip
    if notes:
        lines += ["", "Measurements:", ""]
        for name, items in notes:
            lines.append(f"- `{name}`:")
            for key, value in items.items():
                lines.append(f"  - {key}: {_value(value)}")
    lines.append("")
    return lines


def _by_test(tests: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Tests by ``file::function`` (the cases of a parametrized test together), in file order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for t in tests:
        path, _, function = t["nodeid"].partition("::")
        out.setdefault(f"{Path(path).name}::{function.split('[')[0]}", []).append(t)
    return out


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    return str(value)


def _explanations() -> list[str]:
    return [
        "## What each part checks",
        "",
        "- **Hostile input** (`test_hostile_*.py`, corpus in `tests/reliability/corpus/`): every bad desired-state",
        "  file, CSV, job/command file, CLI argument vector and malformed device answer gets one clear error naming",
        "  the file and line or field; no device is touched (the simulator's event log has no download, install,",
        "  reboot or HA request); the daemon, fed the whole corpus of queue and command files in one run, keeps",
        "  running; every rejected file is kept byte for byte in `rejected/` with a `.reason`.",
        "- **Fuzzing** (`test_fuzz.py`): hypothesis feeds the desired-state, CSV, job and command loaders and the",
        "  XML response parsers arbitrary input; each either accepts it or raises its one documented error.",
        "- **Security** (`test_security.py`): known secret values (passwords, the API keys the simulator issues) are",
        "  in no file of the work directory after a full run (except `config/config.json`, 0600) and not in the",
        "  metrics text; a config holding secrets with a wider mode is warned about; a certificate from another CA",
        "  is refused unless verification is explicitly off (and that is logged); a wrong password gives one clear",
        "  error with a bounded number of API calls; the daemon refuses root unless `daemon.allow_root`; queue",
        "  files owned by another user or symlinked outside the work directory are rejected.",
        "- **Chaos** (`test_chaos.py`, slow): the daemon (a real `panos-upgrade daemon run` process) is killed with",
        "  SIGKILL at moments picked from the simulator's event log (downloads, installs, reboots, HA failovers)",
        "  and restarted. Meanwhile one device in ten that the rollout changes (standalone and HA members, seeded",
        "  choice) gets a garbled answer (the simulator's `bad_xml` fault): most once, to one device-changing",
        "  command (software download or install, `request restart system`, the HA suspend/functional request;",
        "  PAN-OS carries the command out), every fifth to `show jobs` (nonsense values or an unexpected shape,",
        "  1 to 3 times). Before every sixth kill (from the third) `run/daemon.lock` is deleted under the working",
        "  daemon and a second daemon is started on the same work directory. Afterwards the event log must show",
        "  no image installed twice, no reboot not asked for, no moment with both members of an HA pair down and",
        "  no device touched outside its group or window; every status file must have been valid JSON at every",
        "  kill; every second daemon must have exited non-zero naming the holder's pid while the holder kept",
        "  running and kept `status/daemon.json`; the watchdog's `stalled` list in `status/daemon.json` must be",
        "  empty at every kill and at the end; every managed device must be converged, or failed, held or",
        "  blocked with a reason, and a device whose answer to a device-changing command was garbled must",
        "  converge (an unclear answer is looked up, not a failure) unless it fails for a reason of its own.",
        "- **Lock deletion** (`test_lock_deletion.py`, fast): the chaos suite's lock scenario on four firewalls",
        "  (an HA pair included): `run/daemon.lock`, then all of `run/`, deleted mid-rollout; both second",
        "  daemons are refused naming the holder, the holder writes its note again, every device converges with",
        "  one install each, nothing is stalled, and the oracle finds nothing.",
        "- **Faults at rates** (`test_faults.py`, slow): 10 % of API calls answer 500 or drop, slow answers,",
        "  Panorama down mid-run, a firewall that never returns from reboot: healthy devices converge, failed ones",
        "  carry precise reasons, the failure budget halts the right group.",
        "- **Load** (`test_load.py`, slow): a large simulated fleet under the daemon for a full rollout: memory",
        "  bounded, no file-descriptor leak, status files valid under a reader polling them continuously.",
        "- **Engine regressions** (`test_engine_regressions.py`): the defects the runs above found, pinned.",
        "",
        "## Safety invariants (the shared oracle)",
        "",
        "`tests/safety.py` reads a simulator event log, and nothing else (never the tool's own records), and",
        "reports every breach of these rules. After every integration, reliability and observability test, a",
        "fixture (`tests/conftest.py`) runs the context-free checks on every event log the test wrote (simulators",
        "started in the test process, and `events.jsonl` files under the test's temporary directory for",
        "simulators in subprocesses); a test provoking a breach on purpose allows that kind with",
        "`@pytest.mark.safety_allow(...)` and says why. Tests that know their context pass it explicitly.",
        "",
        "| kind | rule | from |",
        "|---|---|---|",
        "| (simulator's kind) | the simulator's own safety monitor saw it (`violation` events) | always |",
        "| `active-rebooted` | no HA member restarted while active with its peer up | always |",
        "| `both-down` | never both members of a pair down (restarting, or HA not running yet) | always |",
        "| `both-installing` | never both members of a pair installing at once | always |",
        "| `needless-suspend` | a suspended member reboots onto another version before it is made functional | always |",
        "| `install-refused` | no install PAN-OS refuses | always |",
        "| `installed-twice` | one image installed once per hop | always |",
        "| `unmanaged-change` | no change on a device outside the managed set | `managed=` |",
        "| `dry-run-change` | no change at all | `dry_run=True` |",
        "| `outside-window` | no change while the device's window is closed | `change_allowed=` |",
        "| `over-max-in-flight` | at most `workers.max` devices busy (job or reboot running) | `max_in_flight=` |",
        "| `over-max-parallel` | at most `maxParallel` units of a group busy (a pair is one unit) | `groups=` |",
        "",
        "Counts: `safety_logs` above is the number of event logs the per-test check read; each test's",
        "`safety oracle` measurement lists what those logs gave the checks (HA member reboots, HA suspends,",
        "installs, install requests, device changes) and the violations found. The chaos, fault and load runs",
        "call the oracle with their full context (managed groups, the closed window, `workers.max`, each",
        "group's `maxParallel`) and report violations per kind under `invariant violations`.",
        "",
        "## Conditions and limits",
        "",
        "- Every run is against the built-in simulator on loopback addresses, on the 2-core build machine",
        "  (shared with other work), with simulated time compressed: the `time scale` above is the number of",
        "  real seconds one simulated second takes (0.002 = a 400 s download in 0.8 s). The sizes asked for",
        "  were run in full: 240 firewalls and 24 kills for chaos, 2,000 firewalls with 200 in flight for",
        "  load; the fault run uses 120 firewalls.",
        "- Compression is harsher than reality for anything that waits in real time: the fault run raises",
        "  `firewall.reboot_timeout` to 90 simulated minutes, because at its time scale the default 30 minutes",
        "  are 7 real seconds, and slow answers of 150 ms real are 37 simulated seconds each.",
        "- The generated fleets include small appliances with little free disk: the failures counted in the",
        "  end states are those (`insufficient-disk`, `download-failed` for space) plus the injected faults;",
        "  each has its reason in the device's status file. A failed canary holds its group's second wave by",
        "  design, so the load run uses one wave.",
        "- `temporary files left by kills` are `.name.tmp` files of atomic writes interrupted by SIGKILL;",
        "  readers never see them, and the daemon removes them at its next start (see round 2 below).",
        "- The watchdog's limit scales with time like every other duration: at the chaos run's time scale it is",
        "  1.7 real seconds. A device's idle time also counts the moments no daemon ran (a kill, a restart), so",
        "  an entry of the `stalled` list read at a kill counts as a stall only when the device has gone past the",
        "  limit under the daemon being killed (idle since before its start and the daemon older than the limit,",
        "  or idle since a moment after its start); the others are counted apart as `listed at a kill, idle",
        "  since before its restart`. At the end (one daemon, settled) every entry counts.",
        "- Devices in a group whose window never opens, and whose path needs intermediate releases, are asked",
        "  for their image list (`request system software check`, read-only) at every daemon start and then",
        "  every 10 minutes; no other call, and nothing that changes a device, happens outside a window.",
        "",
        "## Why the daemon refuses to run as root",
        "",
        "The daemon holds the Panorama and firewall credentials, parses files that other programs drop into",
        "its work directory (job and command files, desired-state YAML from a git checkout) and talks to",
        "hundreds of devices over the network. Run as root, any flaw on that path (a parser bug, a symlink",
        "trick in a drop folder, a compromised web application writing job files) would be a flaw with root",
        "rights on the host. As an unprivileged user (the systemd unit uses a dynamic user with a hardened",
        "sandbox) the same flaw reaches only the work directory. `daemon.allow_root: true` exists for",
        "containers and test rigs that only have root; the suite checks that without it the daemon exits",
        "with one clear error before it takes its lock or reads anything else.",
        "",
    ]


def _round_two() -> list[str]:
    """Issue 19 (points 3, 4, 5, 7): what each fix does, with the figures measured by hand when it was made
    (the commands are given; these are not re-measured by the suite)."""
    return [
        "## Round 2: defects found by hand, fixed and pinned",
        "",
        "Measured on the 2-core build machine shared with other work (load average 0.5 to 3 during the runs).",
        "Each fix has a test in `tests/reliability/` or `tests/unit/` that failed before it.",
        "",
        "- **The daemon lock cannot be lost** (`test_hostile_workdir.py`, `test_daemon_parts.py`): the `flock`",
        "  is held on the work directory itself (opened `O_RDONLY|O_DIRECTORY`), not on `run/daemon.lock`;",
        "  deleting that file (or `run/`) no longer lets a second daemon start. The file only names the holder",
        "  (written again at every pass); without it the refusal still names the pid, read from `/proc/locks`.",
        "- **Hostile desired state** (`test_hostile_desired.py`, corpus `desired/soak_*`, `margin_*`,",
        "  `min_disk_*`, `*_huge`): every number and duration is bounded (durations 0 to 365 days, counts up to",
        "  100,000, margins 0 to 100, `minDiskGb` 0 to 1,000; `.nan`/`.inf` refused; docs/desired-state.md,",
        '  Bounds): `soak: "999999999d"` used to pass `validate` and then fail every daemon pass with an',
        "  OverflowError, and a longer one crashed `validate`. A file that is not a mapping is reported without",
        "  its content, and a `*.yaml` that is a symbolic link out of the desired directory is refused (a link to",
        "  a secret used to have its first line echoed into `status/daemon.json`, the logs and `validate`).",
        "  Status files (every atomic write) are 0640. A group whose planning raises is blocked `plan-error` and",
        "  the other groups are planned (`test_planner_isolation.py`).",
        "- **Validation is linear**: the overlap check compared every pair of groups; it now goes through",
        "  indexes of serials, device groups and `all` clauses, and loading runs without the cycle collector.",
        "  `validate` of 3,000 groups (`tests/bench/bench_planner.py`, best of 3): 45.9 s before, 1.2 s after",
        "  (2,000 groups: 15.0 s before). The 1 s goal is not met yet: YAML composing ~0.2 s, schema",
        "  validation ~0.5 s, building the state ~0.4 s.",
        "- **Hostile devices** (`test_hostile_devices.py`, fake PAN-OS servers on 127.0.0.1):",
        "  `firewall.timeout`/`panorama.timeout` are a deadline for the whole call (connect, headers, body),",
        "  not for each read: a 146-byte answer trickled at 20 bytes/s with a 1 s timeout took 7.3 s before",
        "  and ends after 1.0 s now (a 1 byte/s trickle held `device discover` 126 s with a 5 s timeout).",
        "  Answers are read by the seam up to `firewall.max_answer_mb`/`panorama.max_answer_mb` (64 MB): a",
        "  300 MB answer took the process from 32 MB to 1,233 MB peak RSS before; now the call fails",
        "  (`bad-response`) after 64 MB, peak 97 MB. A Panorama entry whose serial is not a serial",
        "  (`x\\ny`, `../../x`) is skipped with a warning instead of keeping the inventory of the whole fleet",
        "  from being written. Device-supplied names are escaped in CSV exports (a leading `=`, `+`, `-`, `@`,",
        "  tab or CR gets a `'`) and in tables (control characters escaped: one line per device).",
        "- **Smaller** (`test_hostile_cli.py`, `test_hostile_workdir.py`, corpus `csv/*two_serial*`):",
        "  `config set KEY` without a value reads a secret from standard input or a prompt that does not echo;",
        "  a job file dropped straight into `queue/active/` is moved back to `queue/pending/` at daemon",
        "  start-up (checked and started like any job) or rejected with a reason; a CSV naming `serial` twice",
        "  is refused, naming the file and the columns; `--work-dir ''` is refused; temporary files of atomic",
        "  writes killed by SIGKILL (our own name patterns, in our folders, untouched for 60 s) are removed at",
        "  daemon start-up; a FIFO given to `validate`, `-f`, `--upgrade-paths` or a bulk command is refused at",
        "  once instead of blocking.",
        "- **Garbled answers and a deleted lock under chaos** (`test_chaos.py`, `test_lock_deletion.py`; the",
        '  issue\'s "done when"): the chaos run above now also garbles answers (`bad_xml`) on one device in ten',
        "  and deletes `run/daemon.lock` under a working daemon before starting a second one; see its",
        "  measurements in the slow subset (`garbled answers ...`, `lock file deleted ...`, `stalled devices`).",
        "  Full runs (240 firewalls, 24 kills; two runs, the same figures): 24 devices faulted (8 HA members),",
        "  26 garbled answers fired on 23 devices; 23 of the 24 converged; one HA member failed in pre-flight",
        "  with a reason (`preflight-failed`, an `ExpatError` from two garbled `show jobs all` answers in a row",
        "  during the readiness checks, which panos-upgrade-assurance parses itself; not retried) after its",
        "  peer had been upgraded: the pair is left on two versions, the failed member active, for the",
        "  operator. 4 of 4 second daemons refused naming the holder (twice from the rewritten note, twice",
        "  from `/proc/locks`); no violation, no stalled device at any kill or at the end.",
        "",
    ]


def write_doc() -> Path:
    DOC.write_text(render())
    return DOC


if __name__ == "__main__":
    print(write_doc())
    sys.exit(0)
