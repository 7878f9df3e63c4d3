"""Berth: Score-compatible Workloads, run inside platform-owned Environments."""

__version__ = "0.1.0"
