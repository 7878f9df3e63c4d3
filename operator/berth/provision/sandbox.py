"""The sandbox provisioner templates run in: Jinja2, and what it lets a template do.

A template is platform-owned code that runs inside the operator, with user values as its
input (``berth.provision.opaque`` says how those values are kept out of its structure).
The sandbox is ``jinja2.sandbox.SandboxedEnvironment`` — no access to private or
internal attributes of Python objects, no unsafe callables — with:

- ``StrictUndefined``: a name or key that does not exist is an error naming it (and,
  for the context's maps, listing what does exist), never an empty string;
- no autoescaping, and trailing newlines kept: the output is YAML, not HTML;
- filters and tests that would look inside an opaque value refused: only those in
  ``SAFE_FILTERS`` and ``SAFE_TESTS`` may take one (they do not read its text, or they go
  through ``Opaque``'s own methods); ``tojson`` is replaced by ``opaque.tojson``, which
  works on real values;
- attribute access on an opaque string limited to ``OPAQUE_METHODS``; on an opaque map,
  to its keys and ``MAPPING_METHODS``; indexing an opaque string refused;
- three tests of names, on real values: ``dns1035_label`` (a Workload's or a Service's
  name), ``dns1123_label`` (a namespace's), ``dns1123_subdomain`` (most objects'): a
  param that names an object is checked before it is looked for, so a value that can
  never name one is refused (``reject``) rather than waited for;
- two globals, ``reject(message)`` (the resource's params do not suit the template:
  ``TemplateRejected``) and ``wait(message)`` (the resource cannot be provisioned yet:
  ``TemplateWaiting``).

Every other failure of a template — a syntax error, an undefined name, a refused
operation, an exception inside a filter — is a ``TemplateFailure`` naming the template
(manifests or outputs) and the line. Compiled templates are cached (256 sources):
compiling is the slow part, and templates change rarely.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from berth.api.common import (
    DNS_1035_LABEL_PATTERN,
    DNS_LABEL_MAX,
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
)
from berth.provision.errors import TemplateFailure, names
from berth.provision.opaque import (
    MAPPING_METHODS,
    OPAQUE_METHODS,
    Opaque,
    OpaqueList,
    OpaqueMap,
    real_value,
    tojson,
)

# What Kubernetes accepts as the name of most objects (a DNS-1123 subdomain).
DNS_SUBDOMAIN_MAX = 253

_TEMPLATE_FILENAME = "<template>"

# Filters and tests that may take an opaque string as their value: they do not look
# inside it (or they use its real value through the methods Opaque defines).
SAFE_FILTERS = frozenset(
    {
        "default",
        "d",
        "string",
        "e",
        "escape",
        "safe",
        "length",
        "count",
        "lower",
        "upper",
        "capitalize",
        "trim",
    }
)
SAFE_TESTS = frozenset(
    {
        "defined",
        "undefined",
        "none",
        "string",
        "number",
        "integer",
        "float",
        "boolean",
        "true",
        "false",
        "mapping",
        "sequence",
        "callable",
        "sameas",
        "eq",
        "equalto",
        "==",
        "ne",
        "!=",
        "lt",
        "lessthan",
        "<",
        "le",
        "<=",
        "gt",
        "greaterthan",
        ">",
        "ge",
        ">=",
        "in",
    }
)


class TemplateRejected(Exception):
    """A template called ``reject(message)``: the resource's params do not suit it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TemplateWaiting(Exception):
    """A template called ``wait(message)``: the resource cannot be provisioned yet."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _reject(message: Any) -> NoReturn:
    raise TemplateRejected(str(message))


def _name_test(pattern: str, maximum: int) -> Callable[[Any], bool]:
    whole = re.compile(pattern.removeprefix("^").removesuffix("$"))

    def test(value: Any) -> bool:
        real = real_value(value)
        return isinstance(real, str) and len(real) <= maximum and bool(whole.fullmatch(real))

    return test


# Kubernetes' name rules, as tests a template can apply to an opaque value (they answer
# yes or no, as a comparison does, and give nothing of the value back).
NAME_TESTS = {
    "dns1035_label": _name_test(DNS_1035_LABEL_PATTERN, DNS_LABEL_MAX),
    "dns1123_label": _name_test(DNS_LABEL_PATTERN, DNS_LABEL_MAX),
    "dns1123_subdomain": _name_test(DNS_SUBDOMAIN_PATTERN, DNS_SUBDOMAIN_MAX),
}


def _wait(message: Any) -> NoReturn:
    raise TemplateWaiting(str(message))


def _guard(kind: str, name: str, func: Any) -> Callable[..., Any]:
    offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if len(args) > offset and isinstance(args[offset], Opaque):
            args[offset].refuse(f"pass it to the {kind} {name!r}")
        return func(*args, **kwargs)

    return guarded


class Sandbox(SandboxedEnvironment):
    """Jinja2's sandbox with StrictUndefined, no autoescaping, and opaque user values."""

    def __init__(self) -> None:
        super().__init__(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
        self.filters = {
            name: func if name in SAFE_FILTERS else _guard("filter", name, func)
            for name, func in self.filters.items()
        }
        self.tests = {
            name: func if name in SAFE_TESTS else _guard("test", name, func)
            for name, func in self.tests.items()
        }
        self.tests.update(NAME_TESTS)
        self.filters["tojson"] = tojson
        self.globals["reject"] = _reject
        self.globals["wait"] = _wait

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Opaque):
            if attribute in OPAQUE_METHODS:
                return getattr(obj, attribute)
            return self.undefined(
                hint=f"{obj.describe()} is a value a user controls: a template may insert "
                f"it, compare it and test it, but not use its attribute {attribute!r} "
                f"(it may use: {names(OPAQUE_METHODS)})",
                obj=obj,
                name=attribute,
            )
        if isinstance(obj, OpaqueMap):
            if attribute in MAPPING_METHODS:
                return getattr(obj, attribute)
            return obj.lookup(self, attribute)
        if isinstance(obj, OpaqueList):
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Opaque):
            obj.refuse("index or slice it")
        if isinstance(obj, OpaqueMap):
            return obj.lookup(self, argument)
        if isinstance(obj, OpaqueList):
            try:
                return obj[argument]
            except (IndexError, TypeError):
                return self.undefined(obj=obj, name=str(argument))
        return super().getitem(obj, argument)


SANDBOX = Sandbox()


def _template_line(error: BaseException) -> int | None:
    if isinstance(error, jinja2.TemplateSyntaxError):
        return error.lineno
    line = None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(error: BaseException) -> str:
    if isinstance(error, jinja2.TemplateError) and error.message:
        return error.message
    return f"{type(error).__name__}: {error}"


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> jinja2.Template:
    """A compiled template (compiling is the slow part; templates change rarely)."""
    return SANDBOX.from_string(source)


def check_template(source: str, what: str) -> None:
    """Compile ``source``; raises TemplateFailure on a syntax error."""
    try:
        _compile(source)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateFailure(f"{what} template, line {error.lineno}: {error.message}") from None


def render_text(source: str, context: Mapping[str, Any], what: str) -> str:
    """``source`` rendered with ``context``: the text, TemplateRejected, TemplateWaiting,
    or TemplateFailure for any other failure."""
    try:
        return _compile(source).render(context)
    except (TemplateRejected, TemplateWaiting):
        raise
    except Exception as error:  # any failure of a platform template is a TemplateError
        line = _template_line(error)
        where = f"{what} template, line {line}" if line is not None else f"{what} template"
        raise TemplateFailure(f"{where}: {_describe(error)}") from None
