"""Failure tests: processes killed with SIGKILL, servers stopped, on a rig of their own (see conftest.py)."""
