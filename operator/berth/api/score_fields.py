"""Which fields Score allows at a place in a workload — read from the models, for messages.

An unknown field is answered in the Score specification's terms (``berth import`` and
``berth render`` say which fields exist where the typo is). This walks the pydantic
models' annotations; it is about the schema, not part of it.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel

from berth.api.workload import WorkloadSpec


def _model_in(annotation: Any) -> tuple[str, Any]:
    """("model" | "map" | "list" | "value", inner type) of a field's annotation."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return "value", None
            annotation = options[0]
        elif origin is dict:
            return "map", typing.get_args(annotation)[1]
        elif origin is list:
            return "list", typing.get_args(annotation)[0]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return "model", annotation
        else:
            return "value", None


def score_fields_at(loc: tuple[str | int, ...]) -> list[str] | None:
    """For an unknown field at ``loc`` (relative to a Score workload, e.g.
    ``("containers", "main", "foo")``): the fields Score allows there, so that a typo is
    answered in Score's terms. None when ``loc`` cannot be followed."""
    model: type[BaseModel] = WorkloadSpec
    index = 0
    parts = list(loc[:-1])
    while index < len(parts):
        part = parts[index]
        found = next(
            (
                (name, info)
                for name, info in model.model_fields.items()
                if (info.alias or name) == part or name == part
            ),
            None,
        )
        if found is None:
            return None
        hints = typing.get_type_hints(model, include_extras=True)
        kind, inner = _model_in(hints[found[0]])
        index += 1
        if kind in ("map", "list"):
            index += 1  # the key or the index
            kind, inner = _model_in(inner)
        if kind != "model":
            return None
        model = inner
    fields = [info.alias or name for name, info in model.model_fields.items()]
    if model is WorkloadSpec:
        fields = [f for f in fields if f not in ("environment", "replicas")]
    return sorted(fields)
