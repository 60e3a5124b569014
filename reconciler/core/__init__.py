"""The pure core: values and decisions with no I/O, no clock reads and no logging.

PAN-OS versions and the upgrade rules, upgrade paths, the desired-state model, selectors, windows, the
inventory and observed models, device progress, the plan and the planner, snapshot comparison, the error
tree and text defusing for display. Imports nothing else of the product (enforced by ``.importlinter``).
"""
