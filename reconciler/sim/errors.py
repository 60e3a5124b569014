"""The simulator's own exceptions (it imports nothing from the product, its errors included).

SimError                 base of everything the simulator raises on purpose
└── SimUserError         bad input from a person (flag, value, fleet file, state directory):
    │                    ``panos-upgrade sim ...`` prints it as one ``error: ...`` line and exits 1
    └── FleetFileError   a fleet YAML file that fails parsing or validation; ``errors`` holds one
                         ``file:line: path: message`` string per problem
"""

from __future__ import annotations


class SimError(Exception):
    """Base class of every error the simulator raises on purpose."""


class SimUserError(SimError):
    """Bad input from a person. The message is shown as is, without a traceback."""


class FleetFileError(SimUserError):
    """A fleet file does not parse or does not validate."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or [message]
