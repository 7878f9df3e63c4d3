"""Preview environments, as pure decisions: inheritance from a base, copies of its
Workloads, the time to live, the teardown order, the Preview request (no I/O, no clock).
"""
