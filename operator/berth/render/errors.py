"""The error render raises: one or more Problems (``berth.problems``), ordered.

Reasons are ``berth.reasons``; policy violations come first, transient reasons last.
"""

from __future__ import annotations

from collections.abc import Iterable

from berth.problems import Problem
from berth.reasons import POLICY_REASONS, TRANSIENT_REASONS


class RenderError(Exception):
    """The inputs cannot be rendered. Carries one or more problems.

    ``reason`` is the reason of the first problem; problems are ordered policy
    violations first, then other input problems in the order found, then transient ones
    (OutputsUnavailable), so the reason says the most important thing. ``message`` joins
    all messages with "; ".
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        ordered = _order(problems)
        if not ordered:
            raise ValueError("RenderError needs at least one problem")
        self.problems: tuple[Problem, ...] = ordered
        self.reason: str = ordered[0].reason
        self.message: str = "; ".join(problem.message for problem in ordered)
        super().__init__(self.message)

    @classmethod
    def single(cls, reason: str, message: str) -> RenderError:
        return cls([Problem(reason, message)])

    @property
    def transient(self) -> bool:
        """True when every problem may go away by itself (outputs not yet available)."""
        return all(problem.reason in TRANSIENT_REASONS for problem in self.problems)

    def __repr__(self) -> str:
        return f"RenderError(reason={self.reason!r}, message={self.message!r})"


def _order(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    unique: dict[Problem, None] = dict.fromkeys(problems)

    def rank(problem: Problem) -> int:
        if problem.reason in POLICY_REASONS:
            return 0
        if problem.reason in TRANSIENT_REASONS:
            return 2
        return 1

    return tuple(sorted(unique, key=rank))  # sorted() is stable: order found is kept
