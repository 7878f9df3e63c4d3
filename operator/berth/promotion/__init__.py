"""Promotion, pure: revisions of Workloads pinned by digest, the checks a promotion passes
before it touches its target, its progress, history and collection.

No kopf, no client, no clock, no I/O, like render and provision, whose checks it reuses
(``check_policy``, ``match``) so that a promotion is refused for the reasons, and in
the words, the target's Workload would show. The handlers gather the state
(``berth.handlers.revisions``, ``berth.handlers.promotion``); the registry's digests come
from ``berth.registry``.
"""
