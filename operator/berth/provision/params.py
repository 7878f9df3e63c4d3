"""A resource's params merged over a provisioner's defaults, checked against what it accepts.

- A Workload may set the top-level params the provisioner lists in ``allowedParams``;
  without that list, those that have a default (it may override a default, not add
  parameters). Anything else is ``ParamNotAllowed``.
- Where a default exists, the value must be of the same JSON kind (string, number,
  boolean, object, array), at every depth where both are objects: ``ParamInvalid``.
- Objects are merged key by key (deeply); any other value replaces the default. A
  ``null`` param means "use the default".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from berth.problems import Problem
from berth.provision.errors import ProvisionError, names
from berth.reasons import Reason


def json_kind(value: Any) -> str:
    """The JSON kind of a value: string, number, boolean, object, array or null."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    if value is None:
        return "null"
    return type(value).__name__


def _merge(
    defaults: Mapping[str, Any],
    params: Mapping[str, Any],
    path: str,
    where: str,
    problems: list[Problem],
    resource: str,
    provisioner: str,
) -> dict[str, Any]:
    merged: dict[str, Any] = copy.deepcopy(dict(defaults))
    for key in sorted(params, key=str):
        value = params[key]
        if value is None:
            continue
        here = f"{path}.{key}"
        if key in defaults and defaults[key] is not None:
            default = defaults[key]
            if json_kind(value) != json_kind(default):
                problems.append(
                    Problem(
                        Reason.PARAM_INVALID,
                        f"{where} {here} is {_article(json_kind(value))}, but provisioner "
                        f"{provisioner} expects {_article(json_kind(default))} (its default "
                        f"is {_show(default)})",
                        resource=resource,
                    )
                )
                continue
            if isinstance(value, Mapping):
                merged[key] = _merge(default, value, here, where, problems, resource, provisioner)
                continue
        merged[key] = copy.deepcopy(value)
    return merged


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def merge_params(
    defaults: Mapping[str, Any] | None,
    params: Mapping[str, Any] | None,
    allowed: Sequence[str] | None,
    *,
    resource: str,
    provisioner: str,
) -> dict[str, Any]:
    """``params`` deep-merged over ``defaults``.

    Raises ProvisionError carrying every problem found (ParamNotAllowed, ParamInvalid),
    each naming the resource."""
    defaults = defaults or {}
    params = params or {}
    accepted = set(allowed) if allowed is not None else set(defaults)
    where = f"resource {resource!r}"
    problems: list[Problem] = []
    refused = sorted(str(key) for key in params if key not in accepted and params[key] is not None)
    for key in refused:
        takes = f"it accepts: {names(accepted)}" if accepted else "it accepts no params"
        problems.append(
            Problem(
                Reason.PARAM_NOT_ALLOWED,
                f"{where} sets params.{key}, which provisioner {provisioner} does not accept "
                f"({takes})",
                resource=resource,
            )
        )
    kept = {key: value for key, value in params.items() if key in accepted}
    merged = _merge(defaults, kept, "params", where, problems, resource, provisioner)
    if problems:
        raise ProvisionError(problems)
    return merged
