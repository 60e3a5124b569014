"""The engine: the executor (bounded pool, state machines fed with observations) and the reconcile pass
that plans from desired state, inventory and live status and hands work to the executor."""
