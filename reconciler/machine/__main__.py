"""``python -m reconciler.machine --mermaid | --table``: print the generated docs of the state machine."""

from __future__ import annotations

import sys

from reconciler.machine.diagram import mermaid, transition_table


def main(argv: list[str]) -> int:
    outputs = {"--mermaid": mermaid, "--table": transition_table}
    if len(argv) != 1 or argv[0] not in outputs:
        sys.stderr.write("usage: python -m reconciler.machine --mermaid | --table\n")
        return 2
    sys.stdout.write(outputs[argv[0]]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
