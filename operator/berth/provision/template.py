"""The template kind: platform-owned Jinja2 templates rendering objects and outputs.

Templates run in ``jinja2.sandbox.SandboxedEnvironment`` with ``StrictUndefined``, and
render YAML that is parsed into dicts. No value a user controls ever passes through
Jinja or YAML as text:

1. every string of the context (names, annotations, params, the Environment's fields,
   map keys too) is replaced by an opaque token, ``BerthValue<n>X``; a map or list the
   template prints whole becomes one token as well (its JSON text);
2. the template is rendered and the YAML parsed: tokens are plain scalars, so the YAML
   structure is the template's alone;
3. only then is each token, wherever it ended up in a parsed string or key, replaced by
   the real value, as text. A user value therefore only ever becomes (part of) a string
   the template wrote; it can never add a key, an item or an object.

Inside the template an opaque string can be inserted, compared (``==``, ``!=``, ``<``,
``in``), tested (``is defined``, ``is string``), measured (``|length``), used as a
condition, and transformed by a few operations that are applied to the real value and
give a new opaque string (the filters ``lower``, ``upper``, ``capitalize``, ``trim``,
``tojson``; the methods ``lower``, ``upper``, ``capitalize``, ``strip``, ``replace``;
``startswith``/``endswith`` give booleans). Anything else that would look inside it (other
filters and methods, slicing, iterating) would work on the token, not the value, and is
refused with a TemplateError. Numbers and booleans are real values. A token that comes out
transformed anyway is caught and reported instead of being written. ``reject(message)``
refuses the resource's params in the template's own words (reason ParamInvalid);
``wait(message)`` says the resource cannot be provisioned yet but may be soon, for
example while another Workload it points to does not exist (reason Waiting: the
Workload is Reconciling, not Stalled).

Besides ``workload``, ``resource``, ``environment``, ``identity`` and ``shared``, templates
see ``workloads``: the Environment's Workloads by name, each with ``service`` (its
Service's name) and ``ports`` (its Service's ports by name, each with ``port``,
``targetPort`` and ``protocol``), so that a template can point at another Workload.

Errors in a template (syntax, undefined names, refused operations, output that is not
YAML or not objects) are the platform's: reason ``TemplateError``, naming the provisioner,
the template (manifests or outputs) and the line.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NoReturn, SupportsIndex, overload

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

from berth.api.environment import Provisioner, TemplateProvisioner
from berth.problems import Problem
from berth.provision.errors import names
from berth.provision.model import (
    FromSecret,
    FromValue,
    OutputSource,
    OutputSpec,
    PlanContext,
    ResourcePlan,
)
from berth.provision.params import merge_params
from berth.reasons import Reason

TOKEN_PATTERN = re.compile(r"BerthValue(\d+)X")
_ANY_TOKEN = re.compile(r"berthvalue\d+x", re.IGNORECASE)
_TEMPLATE_FILENAME = "<template>"

# Filters and tests that may take an opaque string as their value: they do not look
# inside it (or they use its real value through the methods _Opaque defines).
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
# Methods of an opaque string a template may call: they work on the real value.
OPAQUE_METHODS = frozenset(
    {"lower", "upper", "casefold", "capitalize", "strip", "lstrip", "rstrip", "replace"}
    | {"startswith", "endswith"}
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
_MAPPING_METHODS = frozenset({"items", "keys", "values", "get"})


class TemplateFailure(Exception):
    """A template could not be rendered into objects and outputs."""


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


def _wait(message: Any) -> NoReturn:
    raise TemplateWaiting(str(message))


def _tojson(value: Any, indent: int | None = None) -> Any:
    """Jinja's ``tojson`` on real values: JSON of what the user wrote, as an opaque
    string when user values are in it (so it too can only ever become a string)."""
    found: list[_Opaque] = []

    def real(item: Any) -> Any:
        if isinstance(item, _Opaque):
            found.append(item)
            return item._real
        if isinstance(item, Mapping):
            return {str(real(key)): real(val) for key, val in item.items()}
        if isinstance(item, list | tuple | _List):
            return [real(val) for val in item]
        return item

    text = json.dumps(real(value), sort_keys=True, ensure_ascii=False, indent=indent)
    if not found:
        return text
    # ``key: {{ value | tojson }}`` is the usual way to quote a string for YAML: a scalar
    # that is exactly a string's JSON becomes that string, as YAML would parse it. Inside
    # a longer string, it is the JSON text.
    whole = value._real if isinstance(value, _Opaque) else None
    return found[0]._derived(text, "as JSON", whole=whole)


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- opaque values ---------------------------------------------------------------------------


class _Opaque(str):
    """A user-supplied string as a template sees it: its text is a token; comparisons,
    truthiness, ``in`` and length use the real value."""

    _real: str
    _path: str
    _tokens: _Tokens

    def __new__(cls, tokens: _Tokens, real: str, path: str, whole: str | None = None) -> _Opaque:
        self = super().__new__(cls, tokens.add(real, whole))
        self._real = real
        self._path = path
        self._tokens = tokens
        return self

    def _derived(self, real: str, how: str, whole: str | None = None) -> _Opaque:
        return _Opaque(self._tokens, real, f"{self._path} ({how})", whole)

    # -- operations on the real value that give a new opaque string --------------------

    def lower(self) -> _Opaque:
        return self._derived(self._real.lower(), "lowercased")

    def upper(self) -> _Opaque:
        return self._derived(self._real.upper(), "uppercased")

    def casefold(self) -> _Opaque:
        return self._derived(self._real.casefold(), "casefolded")

    def capitalize(self) -> _Opaque:
        return self._derived(self._real.capitalize(), "capitalized")

    def strip(self, chars: str | None = None) -> _Opaque:
        return self._derived(self._real.strip(self._chars(chars)), "stripped")

    def lstrip(self, chars: str | None = None) -> _Opaque:
        return self._derived(self._real.lstrip(self._chars(chars)), "stripped")

    def rstrip(self, chars: str | None = None) -> _Opaque:
        return self._derived(self._real.rstrip(self._chars(chars)), "stripped")

    def _chars(self, chars: str | None) -> str | None:
        return None if chars is None else self._text(chars)

    def replace(self, old: str, new: str, count: SupportsIndex = -1) -> _Opaque:
        replaced = self._real.replace(self._text(old), self._text(new), count)
        return self._derived(replaced, "replaced")

    def startswith(self, prefix: Any, *args: Any) -> bool:
        return self._real.startswith(self._texts(prefix), *args)

    def endswith(self, suffix: Any, *args: Any) -> bool:
        return self._real.endswith(self._texts(suffix), *args)

    def _text(self, value: Any) -> str:
        real = self._other(value)
        if not isinstance(real, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return real

    def _texts(self, value: Any) -> str | tuple[str, ...]:
        if isinstance(value, tuple | list):
            return tuple(self._text(item) for item in value)
        return self._text(value)

    def _other(self, other: object) -> object:
        """The real value of the other operand: an opaque string's, or a string built by
        the template with opaque strings in it (``'.' ~ environment.domain``)."""
        if isinstance(other, _Opaque):
            return other._real
        if isinstance(other, str):
            return self._tokens.reveal(other)
        return other

    def __eq__(self, other: object) -> bool:
        other = self._other(other)
        if not isinstance(other, str):
            return NotImplemented
        return self._real == other

    def __ne__(self, other: object) -> bool:
        other = self._other(other)
        if not isinstance(other, str):
            return NotImplemented
        return self._real != other

    def __lt__(self, other: object) -> bool:
        other = self._other(other)
        if not isinstance(other, str):
            return NotImplemented
        return self._real < other

    def __le__(self, other: object) -> bool:
        other = self._other(other)
        if not isinstance(other, str):
            return NotImplemented
        return self._real <= other

    def __gt__(self, other: object) -> bool:
        other = self._other(other)
        if not isinstance(other, str):
            return NotImplemented
        return self._real > other

    def __ge__(self, other: object) -> bool:
        other = self._other(other)
        if not isinstance(other, str):
            return NotImplemented
        return self._real >= other

    def __hash__(self) -> int:
        return hash(self._real)

    def __bool__(self) -> bool:
        return bool(self._real)

    def __len__(self) -> int:
        return len(self._real)

    def __contains__(self, key: object) -> bool:
        key = self._other(key)
        if not isinstance(key, str):
            raise TypeError(f"'in {self._path}' needs a string on the left")
        return key in self._real

    def refuse(self, what: str) -> NoReturn:
        raise jinja2.exceptions.SecurityError(
            f"{self._path} is a value a user controls: a template may insert it, compare it "
            f"and test it, but not {what}"
        )

    def __iter__(self) -> Iterator[str]:
        self.refuse("iterate over it")

    def __getitem__(self, key: Any) -> NoReturn:
        self.refuse("index or slice it")

    def __mod__(self, value: Any) -> NoReturn:
        self.refuse("use it as a format string")

    def describe(self) -> str:
        return self._path


def _key(key: str) -> str:
    """A map key as stored: the real value of an opaque key. (Looking an opaque key up
    directly would compare it with stored real values, which it must never reveal.)"""
    return key._real if isinstance(key, _Opaque) else key


class _Fields(Mapping[str, Any]):
    """A map of the template context: looked up by real key, iterated as opaque keys,
    printed whole as one token (its JSON text)."""

    def __init__(
        self,
        path: str,
        items: dict[str, Any],
        keys: list[_Opaque],
        token: str,
        absent: Mapping[str, str] | None = None,
    ) -> None:
        self._path = path
        self._items = items
        self._keys = keys
        self._token = token
        self._absent = dict(absent or {})

    def __getitem__(self, key: str) -> Any:
        return self._items[_key(key)]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and _key(key) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._items)

    def __str__(self) -> str:
        return self._token

    __repr__ = __str__

    def lookup(self, environment: jinja2.Environment, key: Any) -> Any:
        if isinstance(key, str) and _key(key) in self._items:
            return self._items[_key(key)]
        name = key.describe() if isinstance(key, _Opaque) else str(key)
        hint = self._absent.get(name) if isinstance(key, str) else None
        if hint is None:
            hint = f"{self._path} has no {name!r} (it has: {names(self._items)})"
        return environment.undefined(hint=hint, obj=self, name=name)


class _List(Sequence[Any]):
    """A list of the template context: items are wrapped; printed whole as one token."""

    def __init__(self, items: list[Any], token: str) -> None:
        self._items = items
        self._token = token

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(self._items[index])
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __str__(self) -> str:
        return self._token

    __repr__ = __str__


class _Tokens:
    """Opaque tokens of one rendering and the real text each stands for."""

    def __init__(self) -> None:
        self._values: list[str] = []
        self._whole: dict[str, str] = {}

    def add(self, real_text: str, whole: str | None = None) -> str:
        """A new token for ``real_text``; ``whole`` replaces it instead where the token is
        a whole scalar (or key)."""
        self._values.append(real_text)
        token = f"BerthValue{len(self._values) - 1}X"
        if whole is not None:
            self._whole[token] = whole
        return token

    def wrap(self, value: Any, path: str) -> Any:
        """``value`` (plain JSON-like data) as the template sees it."""
        if isinstance(value, str):
            return _Opaque(self, value, path)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return self.fields(path, value)
        if isinstance(value, list | tuple):
            wrapped = [self.wrap(item, f"{path}[{index}]") for index, item in enumerate(value)]
            return _List(wrapped, self.add(_json_text(list(value))))
        raise TypeError(f"{path}: cannot pass a {type(value).__name__} to a template")

    def fields(
        self, path: str, value: Mapping[str, Any], absent: Mapping[str, str] | None = None
    ) -> _Fields:
        """A map as the template sees it; ``absent`` explains keys it deliberately lacks."""
        items = {str(key): self.wrap(item, f"{path}.{key}") for key, item in value.items()}
        keys = [_Opaque(self, str(key), f"a key of {path}") for key in value]
        return _Fields(path, items, keys, self.add(_json_text(value)), absent)

    def reveal(self, text: str) -> str:
        """``text`` with known tokens replaced, leniently (for messages)."""

        def real(match: re.Match[str]) -> str:
            index = int(match.group(1))
            return self._values[index] if index < len(self._values) else match.group()

        return TOKEN_PATTERN.sub(real, text)

    def substitute(self, text: str) -> str:
        """``text`` with every token replaced by its real text; a token that was
        transformed by the template is an error."""
        for found in _ANY_TOKEN.finditer(text):
            exact = TOKEN_PATTERN.fullmatch(found.group())
            if (
                exact is None
                or found.group() != f"BerthValue{int(exact.group(1))}X"
                or int(exact.group(1)) >= len(self._values)
            ):
                raise TemplateFailure(
                    f"the output contains {found.group()!r}, a user value the template "
                    "transformed (changed case, sliced, ...); templates may only insert "
                    "user values as they are"
                )
        if text in self._whole:
            return self._whole[text]
        return TOKEN_PATTERN.sub(lambda match: self._values[int(match.group(1))], text)


# -- the sandbox -----------------------------------------------------------------------------


def _guard(kind: str, name: str, func: Any) -> Callable[..., Any]:
    offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if len(args) > offset and isinstance(args[offset], _Opaque):
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
        self.filters["tojson"] = _tojson
        self.globals["reject"] = _reject
        self.globals["wait"] = _wait

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, _Opaque):
            if attribute in OPAQUE_METHODS:
                return getattr(obj, attribute)
            return self.undefined(
                hint=f"{obj.describe()} is a value a user controls: a template may insert "
                f"it, compare it and test it, but not use its attribute {attribute!r} "
                f"(it may use: {names(OPAQUE_METHODS)})",
                obj=obj,
                name=attribute,
            )
        if isinstance(obj, _Fields):
            if attribute in _MAPPING_METHODS:
                return getattr(obj, attribute)
            return obj.lookup(self, attribute)
        if isinstance(obj, _List):
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, _Opaque):
            obj.refuse("index or slice it")
        if isinstance(obj, _Fields):
            return obj.lookup(self, argument)
        if isinstance(obj, _List):
            try:
                return obj[argument]
            except (IndexError, TypeError):
                return self.undefined(obj=obj, name=str(argument))
        return super().getitem(obj, argument)


_SANDBOX = Sandbox()


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
    return _SANDBOX.from_string(source)


def check_template(source: str, what: str) -> None:
    """Compile ``source``; raises TemplateFailure on a syntax error."""
    try:
        _compile(source)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateFailure(f"{what} template, line {error.lineno}: {error.message}") from None


def _render(source: str, context: Mapping[str, Any], what: str) -> str:
    try:
        return _compile(source).render(context)
    except (TemplateRejected, TemplateWaiting):
        raise
    except Exception as error:  # any failure of a platform template is a TemplateError
        line = _template_line(error)
        where = f"{what} template, line {line}" if line is not None else f"{what} template"
        raise TemplateFailure(f"{where}: {_describe(error)}") from None


# -- YAML ------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML's safe loader without timestamps: a date stays a string, as in YAML 1.2."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _parse_all(text: str, what: str) -> list[Any]:
    try:
        return list(yaml.load_all(text, Loader=_Loader))  # _Loader is a SafeLoader
    except yaml.YAMLError as error:
        raise TemplateFailure(
            f"{what} template rendered invalid YAML: {_yaml_error(error)}"
        ) from None


def _yaml_error(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        problem = error.problem or error.context or "invalid"
        return f"line {mark.line + 1} of the rendered text: {problem}"
    return str(error)


def _clean(value: Any, tokens: _Tokens, where: str) -> Any:
    """Parsed YAML as JSON-like data, with tokens replaced by their real text."""
    if isinstance(value, str):
        return tokens.substitute(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TemplateFailure(f"{where} is {value}, which JSON cannot hold")
        return value
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TemplateFailure(f"{where} has the key {key!r}, which is not a string")
            real = tokens.substitute(key)
            if real in result:
                raise TemplateFailure(f"{where} has the key {real!r} twice")
            result[real] = _clean(item, tokens, f"{where}.{real}")
        return result
    if isinstance(value, list):
        return [_clean(item, tokens, f"{where}[{index}]") for index, item in enumerate(value)]
    raise TemplateFailure(f"{where} is a {type(value).__name__}, which is not JSON")


# -- the context -----------------------------------------------------------------------------


def template_context(
    context: PlanContext, params: Mapping[str, Any], tokens: _Tokens
) -> dict[str, Any]:
    """What templates see: workload, resource, environment, identity, shared."""
    request = context.request
    resource_annotations = dict(request.metadata.annotations or {}) if request.metadata else {}
    resource = {
        "name": context.resource,
        "type": request.type,
        "class": request.class_,
        "id": request.id,
        "params": dict(params),
        "annotations": resource_annotations,
    }
    env_spec = context.environment.spec
    environment: dict[str, Any] = {
        "name": context.environment.metadata.name,
        "type": env_spec.type,
        "namespace": env_spec.namespace,
    }
    absent: dict[str, str] = {}
    if env_spec.routes is not None:
        environment["domain"] = env_spec.routes.domain
    else:
        absent["domain"] = (
            f"Environment {context.environment.metadata.name} sets no spec.routes.domain"
        )
    resource_absent: dict[str, str] = {}
    if context.shared:
        del resource["name"]
        resource_absent["name"] = (
            f"resource {context.resource!r} has an id ({request.id}), so it is shared by the "
            "Environment's Workloads, each of which may call it differently: use resource.id "
            "or identity instead of resource.name"
        )
    result: dict[str, Any] = {
        "resource": tokens.fields("resource", resource, resource_absent),
        "environment": tokens.fields("environment", environment, absent),
        "identity": tokens.wrap(context.identity, "identity"),
        "shared": context.shared,
        "workloads": tokens.fields("workloads", context.services),
    }
    if context.shared:
        result["workload"] = _SANDBOX.undefined(
            hint=(
                f"resource {context.resource!r} has an id ({request.id}), so it is shared by "
                "the Environment's Workloads and its templates cannot depend on one of them: "
                "use resource.id or identity instead of workload"
            ),
            name="workload",
        )
    else:
        metadata = context.workload.spec.metadata
        annotations = dict(metadata.annotations or {}) if metadata else {}
        workload = {
            "name": context.workload.metadata.name,
            "namespace": env_spec.namespace,
            "annotations": annotations,
            "service": context.workload.spec.service_name(context.workload.metadata.name),
        }
        result["workload"] = tokens.fields("workload", workload)
    return result


# -- manifests and outputs -------------------------------------------------------------------


def _objects(documents: list[Any]) -> list[Any]:
    objects: list[Any] = []
    for document in documents:
        if document is None:
            continue
        if isinstance(document, list):
            objects.extend(document)
        else:
            objects.append(document)
    return objects


# Kinds a template may never render, whatever the operator's RBAC would allow: a
# template's objects are written with the operator's rights, on a developer's behalf.
REFUSED_KINDS = {
    ("", "Secret"): "secret values never pass through templates; use a secret provisioner",
    ("", "Namespace"): "templates create objects in the Environment's namespace only",
    ("", "ServiceAccount"): "templates do not create identities",
    ("rbac.authorization.k8s.io", "Role"): "templates do not grant rights",
    ("rbac.authorization.k8s.io", "RoleBinding"): "templates do not grant rights",
    ("rbac.authorization.k8s.io", "ClusterRole"): "templates do not grant rights",
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): "templates do not grant rights",
}


def _finish_object(obj: Any, index: int, context: PlanContext) -> dict[str, Any]:
    where = f"object {index + 1}"
    if not isinstance(obj, dict):
        raise TemplateFailure(f"manifests: {where} is not a map (an object with apiVersion, kind)")
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise TemplateFailure(f"manifests: {where} has no {key}")
    where = f"{obj['kind']} (object {index + 1})"
    refused = REFUSED_KINDS.get(
        (obj["apiVersion"].rsplit("/", 1)[0] if "/" in obj["apiVersion"] else "", obj["kind"])
    )
    if refused is not None:
        raise TemplateFailure(
            f"manifests: {where}: a template may not create a {obj['kind']}: {refused}"
        )
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
        raise TemplateFailure(f"manifests: {where} has no metadata.name")
    where = f"{obj['kind']} {metadata['name']}"
    namespace = metadata.get("namespace")
    if namespace is not None and namespace != context.namespace:
        raise TemplateFailure(
            f"manifests: {where} names namespace {namespace!r}; objects are created in the "
            f"Environment's namespace {context.namespace!r} (leave metadata.namespace out)"
        )
    metadata["namespace"] = context.namespace
    labels = metadata.get("labels")
    if labels is None:
        labels = {}
    if not isinstance(labels, dict):
        raise TemplateFailure(f"manifests: {where} has metadata.labels that are not a map")
    labels.update(context.labels())
    metadata["labels"] = labels
    return obj


def _output_source(name: str, value: Any, tokens: _Tokens) -> OutputSource:
    """One output: classified as the template wrote it, before user values go in."""
    where = f"outputs: {name}"
    if isinstance(value, dict):
        ref = value.get("secretKeyRef")
        if (
            set(value) != {"secretKeyRef"}
            or not isinstance(ref, dict)
            or set(ref) != {"name", "key"}
        ):
            raise TemplateFailure(
                f"{where} must be a string or {{secretKeyRef: {{name, key}}}}, not a map"
            )
        secret_name, key = ref["name"], ref["key"]
        if not isinstance(secret_name, str) or not isinstance(key, str):
            raise TemplateFailure(f"{where}: secretKeyRef name and key must be strings")
        return FromSecret(tokens.substitute(secret_name), tokens.substitute(key))
    if isinstance(value, str):
        return FromValue(tokens.substitute(value))
    if isinstance(value, bool):
        return FromValue("true" if value else "false")
    if isinstance(value, int | float) and not (
        isinstance(value, float) and not math.isfinite(value)
    ):
        return FromValue(_json_text(value))
    kind = "empty (null)" if value is None else f"a {type(value).__name__}"
    raise TemplateFailure(f"{where} is {kind}; an output is a string or a secretKeyRef")


def render_outputs(
    source: str, context: Mapping[str, Any], tokens: _Tokens
) -> dict[str, OutputSource]:
    documents = [
        d for d in _parse_all(_render(source, context, "outputs"), "outputs") if d is not None
    ]
    if not documents:
        return {}
    if len(documents) > 1 or not isinstance(documents[0], dict):
        raise TemplateFailure("outputs template must render one YAML map of output names")
    result: dict[str, OutputSource] = {}
    for key, value in documents[0].items():
        if not isinstance(key, str):
            raise TemplateFailure(f"outputs: the output name {key!r} is not a string")
        name = tokens.substitute(key)
        if name in result:
            raise TemplateFailure(f"outputs: {name!r} is given twice")
        result[name] = _output_source(name, value, tokens)
    return result


def render_manifests(
    source: str, template_vars: Mapping[str, Any], tokens: _Tokens, context: PlanContext
) -> list[dict[str, Any]]:
    documents = _parse_all(_render(source, template_vars, "manifests"), "manifests")
    objects = _objects(documents)
    cleaned = [_clean(obj, tokens, f"manifests: object {i + 1}") for i, obj in enumerate(objects)]
    return [_finish_object(obj, index, context) for index, obj in enumerate(cleaned)]


def plan_template(
    context: PlanContext, provisioner: Provisioner, spec: TemplateProvisioner
) -> tuple[ResourcePlan | None, list[Problem]]:
    params, problems = merge_params(
        spec.defaults,
        context.params,
        spec.allowed_params,
        resource=context.resource,
        provisioner=context.provisioner,
    )
    if problems:
        return None, problems
    tokens = _Tokens()
    try:
        template_vars = template_context(context, params, tokens)
        manifests = (
            render_manifests(spec.manifests, template_vars, tokens, context)
            if spec.manifests
            else []
        )
        rendered = render_outputs(spec.outputs, template_vars, tokens) if spec.outputs else {}
    except TemplateRejected as rejected:
        return None, [
            Problem(
                Reason.PARAM_INVALID,
                f"resource {context.resource!r}: provisioner {context.provisioner} (type "
                f"{provisioner.type}) rejects its params: {tokens.reveal(rejected.message)}",
                resource=context.resource,
            )
        ]
    except TemplateWaiting as waiting:
        return None, [
            Problem(
                Reason.WAITING,
                f"resource {context.resource!r}: provisioner {context.provisioner} (type "
                f"{provisioner.type}) waits: {tokens.reveal(waiting.message)}",
                resource=context.resource,
            )
        ]
    except TemplateFailure as failure:
        return None, [
            Problem(
                Reason.TEMPLATE_ERROR,
                f"provisioner {context.provisioner} (type {provisioner.type}) cannot provision "
                f"resource {context.resource!r}: {failure}",
                resource=context.resource,
            )
        ]
    declared = list(dict.fromkeys(provisioner.outputs or []))
    missing = [name for name in declared if name not in rendered]
    if missing:
        return None, [
            Problem(
                Reason.MISSING_OUTPUT,
                f"provisioner {context.provisioner} (type {provisioner.type}) promises "
                f"outputs {', '.join(missing)} for resource {context.resource!r}, but its "
                f"outputs template did not render them (it rendered: {names(rendered)})",
                resource=context.resource,
            )
        ]
    order = declared + sorted(set(rendered) - set(declared))
    outputs = [OutputSpec(name, rendered[name]) for name in order]
    return context.finish("template", manifests, outputs), []
