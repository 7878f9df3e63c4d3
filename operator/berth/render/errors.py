"""Problems found while rendering, each with a stable CamelCase reason.

A reason is part of Berth's API: handlers put it on the Workload's conditions, and
dashboards and tests match on it. Messages are for developers: they name the container,
variable or file, quote the placeholder, and list what does exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class Reason:
    """The reasons render and policy checks can report."""

    # placeholders
    INVALID_PLACEHOLDER = "InvalidPlaceholder"
    UNKNOWN_RESOURCE = "UnknownResource"
    UNKNOWN_OUTPUT = "UnknownOutput"
    UNKNOWN_METADATA = "UnknownMetadata"
    PLACEHOLDER_CYCLE = "PlaceholderCycle"
    # A resource's outputs were not passed in: it is not provisioned (or not ready) yet.
    # The only transient reason; everything else needs a change to the Workload or
    # Environment.
    OUTPUTS_UNAVAILABLE = "OutputsUnavailable"
    INVALID_OUTPUT = "InvalidOutput"
    # secrets where they cannot go
    SECRET_IN_FILE = "SecretInFile"
    SECRET_IN_PARAMS = "SecretInParams"
    SECRET_IN_PROBE = "SecretInProbe"
    # other input problems
    FILE_SOURCE_NOT_INLINED = "FileSourceNotInlined"
    INVALID_PROBE = "InvalidProbe"
    INVALID_BEFORE = "InvalidBefore"
    INVALID_RESOURCES = "InvalidResources"
    INVALID_NAME = "InvalidName"
    NAMESPACE_MISMATCH = "NamespaceMismatch"
    ENVIRONMENT_MISMATCH = "EnvironmentMismatch"
    # policy
    IMAGE_NOT_ALLOWED = "ImageNotAllowed"
    REPLICAS_ABOVE_LIMIT = "ReplicasAboveLimit"
    LIMITS_REQUIRED = "LimitsRequired"


# A provisioner template's wait() (berth.provision: reason Waiting) is transient as well.
TRANSIENT_REASONS = frozenset({Reason.OUTPUTS_UNAVAILABLE, "Waiting"})
POLICY_REASONS = frozenset(
    {Reason.IMAGE_NOT_ALLOWED, Reason.REPLICAS_ABOVE_LIMIT, Reason.LIMITS_REQUIRED}
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the inputs: a stable reason and an actionable message.

    ``resource`` names the Score resource concerned, where there is one (it lets render
    fold many OutputsUnavailable problems into one per resource)."""

    reason: str
    message: str
    resource: str | None = None


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
