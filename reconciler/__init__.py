"""panos-upgrade: declarative upgrade orchestration for fleets of PAN-OS firewalls.

The import package is ``reconciler``; the command-line entry point is ``panos-upgrade``.
"""

__version__ = "0.1.0"
