#!/usr/bin/env python3
"""Compatibility wrapper for the original tool's ``scripts/init_system.py --work-dir DIR``.

It only forwards to ``panos-upgrade init`` (same flags); use that command directly.
"""

import sys

from reconciler.cli import main

if __name__ == "__main__":
    main(["init", *sys.argv[1:]])
