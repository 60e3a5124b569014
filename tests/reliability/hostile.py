"""The hostile-input corpus: files kept in ``corpus/``, plus the few that are generated (too big to keep) or
that only exist on a file system (symbolic links, a FIFO, a directory, a file owned by someone else).

``corpus/expect.json`` holds, for every kept file, the start of the error it must produce (its first
error line, or a drop file's ``.reason``). Desired-state and CSV expectations start with
``file:line:`` (and the field path for YAML): that is the contract "a clear error naming the file and the
line or field". A parser expectation starting with ``tolerated:`` means the parser returns a safe value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.core.inventory import Device, Inventory
from reconciler.jobs import bulk_csv, intake
from reconciler.workdir import desired_load

CORPUS = Path(__file__).resolve().parent / "corpus"
EXPECT: dict[str, str] = json.loads((CORPUS / "expect.json").read_text(encoding="utf-8"))
FOREIGN_UID = 4242  # "another user" for ownership checks (the suite runs as root, so it can chown)

# The small fleet every hostile-input test talks about: two standalone firewalls and one HA pair.
INVENTORY = Inventory.of(
    [
        Device("001", "fw-001", "127.0.0.1", "PA-440", "11.1.2", "dc", "standalone", "standalone"),
        Device("002", "fw-002", "127.0.0.2", "PA-440", "11.1.2", "dc", "standalone", "standalone"),
        Device("003", "fw-003", "127.0.0.3", "PA-3220", "11.1.2", "dc", "ha_pair", "active", "004"),
        Device("004", "fw-004", "127.0.0.4", "PA-3220", "11.1.2", "dc", "ha_pair", "passive", "003"),
    ]
)


def kept(kind: str) -> list[Path]:
    """The corpus files of one kind (``desired``, ``csv``, ``jobs``, ``commands``, ``xml``), by name."""
    return sorted(p for p in (CORPUS / kind).iterdir() if p.is_file())


def expected(path: Path) -> str:
    return EXPECT[f"{path.parent.name}/{path.name}"]


def cli_cases() -> list[dict[str, object]]:
    cases: list[dict[str, object]] = json.loads((CORPUS / "cli.json").read_text(encoding="utf-8"))
    return cases


# -- generated files ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    """A hostile file written at test time: ``name`` in the target folder, ``expect`` in its error."""

    name: str
    write: Callable[[Path], None]
    expect: str


def _text(content: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_text(content, encoding="utf-8")

    return write


def _huge_yaml(path: Path) -> None:
    filler = "# " + "x" * 1022 + "\n"
    head = "apiVersion: panos-upgrade/v1\n"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(head)
        for _ in range(desired_load.MAX_FILE_BYTES // len(filler) + 2):
            fh.write(filler)


def _huge_csv(path: Path) -> None:
    row = "001," + "x" * 1018 + "\n"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("serial,comment\n")
        for _ in range(bulk_csv.MAX_BYTES // len(row) + 2):
            fh.write(row)


GENERATED_DESIRED = [
    Generated("huge.yaml", _huge_yaml, "the limit is"),
    Generated("many_groups.yaml", _text(
        "apiVersion: panos-upgrade/v1\ngroups:\n"
        + "".join(f"  - {{name: g{i}, select: {{serials: ['{i:05d}']}}, target: 11}}\n" for i in range(3000))
    ), "is not a version string"),
]  # fmt: skip

GENERATED_CSV = [
    Generated("sa_huge.csv", _huge_csv, "larger than"),
    Generated("sa_field_over_csv_limit.csv", _text('serial\n"' + "9" * 200_000 + '"\n'), "malformed CSV"),
    Generated(
        "sa_wide_header.csv", _text("serial" + ",x" * 100_000 + "\nNOPE-404\n"), "not in the inventory"
    ),
]

_BIG_JOB = {
    "job_id": "giant",
    "type": "standalone",
    "devices": ["001"],
    "reason": "x" * (intake.MAX_BYTES + 10),
}
GENERATED_DROPS = [
    Generated("giant.json", _text(json.dumps(_BIG_JOB)), "larger than the 65536-byte limit"),
    Generated("sparse-giant.json", lambda p: os.truncate(_touch(p), 512 * 1024 * 1024), "larger than"),
]


def _touch(path: Path) -> Path:
    path.touch()
    return path


# -- files that only exist on a file system ------------------------------------------------------------------


@dataclass(frozen=True)
class Special:
    name: str
    make: Callable[[Path, Path], None]  # (drop folder, a folder outside the work dir)
    expect: str


def _symlink_to_valid_job(folder: Path, outside: Path) -> None:
    target = outside / "valid-elsewhere.json"
    target.write_text(json.dumps({"job_id": "linked", "type": "standalone", "devices": ["001"]}))
    (folder / "linked.json").symlink_to(target)


def _symlink_to_secret(folder: Path, outside: Path) -> None:
    target = outside / "secret.json"
    target.write_text('{"password": "not for you"}')
    (folder / "secret-link.json").symlink_to(target)


def _dangling_symlink(folder: Path, outside: Path) -> None:
    (folder / "dangling.json").symlink_to(outside / "does-not-exist.json")


def _fifo(folder: Path, outside: Path) -> None:
    os.mkfifo(folder / "pipe.json")


def _directory(folder: Path, outside: Path) -> None:
    (folder / "folder.json").mkdir()
    (folder / "folder.json" / "inner.json").write_text("{}")


def _foreign_owner(folder: Path, outside: Path) -> None:
    path = folder / "foreign.json"
    path.write_text(json.dumps({"job_id": "foreign", "type": "standalone", "devices": ["001"]}))
    os.chown(path, FOREIGN_UID, FOREIGN_UID)


def _foreign_command(folder: Path, outside: Path) -> None:
    path = folder / "foreign.json"
    path.write_text(json.dumps({"command": "hold", "serial": "001"}))
    os.chown(path, FOREIGN_UID, FOREIGN_UID)


def _command_link(folder: Path, outside: Path) -> None:
    target = outside / "hold.json"
    target.write_text(json.dumps({"command": "hold", "serial": "001"}))
    (folder / "hold-link.json").symlink_to(target)


SPECIAL_JOBS = [
    Special("linked.json", _symlink_to_valid_job, "is a symbolic link (refused)"),
    Special("secret-link.json", _symlink_to_secret, "is a symbolic link (refused)"),
    Special("dangling.json", _dangling_symlink, "is a symbolic link (refused)"),
    Special("pipe.json", _fifo, "not a regular file"),
    Special("folder.json", _directory, "not a regular file"),
    Special("foreign.json", _foreign_owner, f"owned by uid {FOREIGN_UID}"),
]
SPECIAL_COMMANDS = [
    Special("hold-link.json", _command_link, "is a symbolic link (refused)"),
    Special("foreign.json", _foreign_command, f"owned by uid {FOREIGN_UID}"),
    Special("pipe.json", _fifo, "not a regular file"),
]
