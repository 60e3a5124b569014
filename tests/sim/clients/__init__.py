"""Third-party clients run against the simulator in their own processes (see docs/simulator.md)."""
