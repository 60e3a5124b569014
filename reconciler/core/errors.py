"""The project's exception tree.

    PanosUpgradeError                 base of everything we raise on purpose
    ├── UserError                     bad input from a person: flag, value, file; printed as one line
    │   ├── ConfigError               unknown key, wrong type, out of range
    │   ├── WorkDirError              work directory missing or unusable
    │   └── InputFileError            a YAML/CSV/JSON file that fails parsing or validation
    ├── StoreError                    a file in the work directory is torn, invalid or unwritable
    └── DeviceError                   raised only by the device seam (reconciler.device.client)
        ├── TemporaryDeviceError      worth retrying later (timeouts, refused, 5xx, "in use")
        └── PermanentDeviceError      retrying will not help (bad credentials, refused by PAN-OS rules)

CLI code turns ``UserError`` and ``StoreError`` into one line on stderr and a non-zero exit; nothing
else in the package exits the process.
"""

from __future__ import annotations


class PanosUpgradeError(Exception):
    """Base class of every error this package raises on purpose."""


class UserError(PanosUpgradeError):
    """Bad input from a person. The message is shown as is, without a traceback."""


class ConfigError(UserError):
    """A configuration key or value is unknown, of the wrong type or out of range."""


class WorkDirError(UserError):
    """The work directory does not exist or cannot be used."""


class InputFileError(UserError):
    """A file given to us (YAML, CSV, JSON) does not parse or does not validate.

    ``errors`` holds one ``file:line: path: message`` string per problem.
    """

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or [message]


class StoreError(PanosUpgradeError):
    """A file in the work directory is torn, invalid or cannot be written."""


class DeviceError(PanosUpgradeError):
    """A failure talking to a firewall or Panorama. Only the device seam raises these."""

    def __init__(self, message: str, *, kind: str = "error", device: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.device = device


class TemporaryDeviceError(DeviceError):
    """Retrying later may succeed: timeouts, refused connections, HTTP 5xx, software manager busy."""


class PermanentDeviceError(DeviceError):
    """Retrying will not help: bad credentials, a command PAN-OS refuses, an impossible request."""
