"""The scheduler's own adapters (the shared ones live in wfa.adapters)."""
