"""Opaque values: how a user's values reach a provisioner template without reaching its text.

Read this module when you review what a Workload's author can do to a platform template.

What it guarantees
------------------
A provisioner template is written by the platform team; the values it is rendered with
(the Workload's and resource's names, annotations and params, the Environment's fields,
other Workloads' Services) are mostly written by developers, and all are treated alike.
**A string of the context only ever becomes (part of) a string the template wrote: it can
never add a key, an item or an object, never turn into a number, a boolean or null, and
never be read as Jinja or YAML syntax.** What it contains does not matter: ``"a: b"``,
``"x\\ny: z"``, ``"{{ 7 * 7 }}"``, ``"---"``, ``"!!python/object"``, an anchor or a
comment all come out as the same characters, inside the string the template put them in.

How
---
One rendering goes through three steps, and this module owns the first and the last:

1. **Tokens in.** ``Tokens.wrap``/``Tokens.fields`` turn every string of the template's
   context — values *and* map keys — into an ``Opaque``: a ``str`` whose text is a token,
   ``BerthValue<n>X``, made of letters and digits only, that stands for the real value. A
   map or list printed whole becomes one token too (standing for its JSON text). The
   template is rendered (``berth.provision.sandbox``) and its YAML parsed: since tokens are
   plain scalars, the structure of the parsed data is the template's alone.
2. **Nothing looks inside.** A token is not the value, so anything that would read the
   value through its text would be wrong as well as unsafe. An ``Opaque`` answers the
   operations that do not need its text with its real value: ``==``, ``!=``, ``<``,
   ``<=``, ``>``, ``>=``, ``x in value``, ``len``, truthiness and hashing (``value in
   "text"`` is answered by the text, which sees only the token: it reveals nothing). A few
   transformations (``OPAQUE_METHODS``, and the sandbox's ``lower``/``upper``/
   ``capitalize``/``trim``/``tojson`` filters) are applied to the real value and give a
   *new* ``Opaque`` (a new token). Iterating, indexing, slicing and ``%``-formatting raise
   ``SecurityError`` here; every other filter, test and attribute is refused by the
   sandbox. Numbers, booleans and ``None`` are passed as they are: they carry no syntax.
3. **Values out.** Only after parsing, ``restore`` walks the parsed data and replaces each
   token, wherever it ended up in a string or a key, by the real text. ``re.sub`` does not
   rescan what it inserts, so a user value that itself looks like a token stays text. A
   token that comes out changed yet recognisable (``berthvalue<n>x`` in another case, or
   a number that is no token of this rendering) is an error, ``TemplateFailure``, never
   written; a fragment of a token (the template sliced a string it built) is only the
   template's own text and carries nothing of the value. A key that appears twice once
   the values are in, a non-string key and a value JSON cannot hold are errors too.

One exception to "the real text replaces the token": ``{{ value | tojson }}`` gives a
token standing for the JSON text of the value, and remembers the value itself as its
*whole*: where that token is a whole scalar (``key: {{ v | tojson }}``, the usual way to
quote a string for YAML) it is replaced by the value, exactly as YAML would have parsed
the JSON; inside a longer string it is the JSON text.

What it does not do: decide which objects a template may create (``REFUSED_KINDS`` in
``berth.provision.template``), or what Jinja itself may do (``berth.provision.sandbox``).
Messages that quote a template's words (``reject(...)``, ``wait(...)``) use
``Tokens.reveal``, which is lenient: it is for text a person reads, never for objects.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NoReturn, SupportsIndex, overload

import jinja2

from berth.provision.errors import TemplateFailure, names

TOKEN_PATTERN = re.compile(r"BerthValue(\d+)X")
_ANY_TOKEN = re.compile(r"berthvalue\d+x", re.IGNORECASE)

# Methods of an opaque string a template may call: they work on the real value.
OPAQUE_METHODS = frozenset(
    {"lower", "upper", "casefold", "capitalize", "strip", "lstrip", "rstrip", "replace"}
    | {"startswith", "endswith"}
)
# Methods of an opaque map a template may call (``.items()``, ``.get(key)``...).
MAPPING_METHODS = frozenset({"items", "keys", "values", "get"})


def json_text(value: Any) -> str:
    """Compact, sorted JSON: the text a map or list printed whole stands for."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Opaque(str):
    """A user-supplied string as a template sees it: its text is a token; comparisons,
    truthiness, ``in`` and length use the real value."""

    _real: str
    _path: str
    _tokens: Tokens

    def __new__(cls, tokens: Tokens, real: str, path: str, whole: str | None = None) -> Opaque:
        self = super().__new__(cls, tokens.add(real, whole))
        self._real = real
        self._path = path
        self._tokens = tokens
        return self

    def _derived(self, real: str, how: str, whole: str | None = None) -> Opaque:
        return Opaque(self._tokens, real, f"{self._path} ({how})", whole)

    # -- operations on the real value that give a new opaque string --------------------

    def lower(self) -> Opaque:
        return self._derived(self._real.lower(), "lowercased")

    def upper(self) -> Opaque:
        return self._derived(self._real.upper(), "uppercased")

    def casefold(self) -> Opaque:
        return self._derived(self._real.casefold(), "casefolded")

    def capitalize(self) -> Opaque:
        return self._derived(self._real.capitalize(), "capitalized")

    def strip(self, chars: str | None = None) -> Opaque:
        return self._derived(self._real.strip(self._chars(chars)), "stripped")

    def lstrip(self, chars: str | None = None) -> Opaque:
        return self._derived(self._real.lstrip(self._chars(chars)), "stripped")

    def rstrip(self, chars: str | None = None) -> Opaque:
        return self._derived(self._real.rstrip(self._chars(chars)), "stripped")

    def _chars(self, chars: str | None) -> str | None:
        return None if chars is None else self._text(chars)

    def replace(self, old: str, new: str, count: SupportsIndex = -1) -> Opaque:
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
        if isinstance(other, Opaque):
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


def real_value(value: Any) -> Any:
    """The real value behind an opaque string (anything else as it is): for the sandbox's
    tests, which answer a yes or no about it and give nothing of it back."""
    return value._real if isinstance(value, Opaque) else value


def tojson(value: Any, indent: int | None = None) -> Any:
    """Jinja's ``tojson`` on real values: JSON of what the user wrote, as an opaque
    string when user values are in it (so it too can only ever become a string)."""
    found: list[Opaque] = []

    def real(item: Any) -> Any:
        if isinstance(item, Opaque):
            found.append(item)
            return item._real
        if isinstance(item, Mapping):
            return {str(real(key)): real(val) for key, val in item.items()}
        if isinstance(item, list | tuple | OpaqueList):
            return [real(val) for val in item]
        return item

    text = json.dumps(real(value), sort_keys=True, ensure_ascii=False, indent=indent)
    if not found:
        return text
    # ``key: {{ value | tojson }}`` is the usual way to quote a string for YAML: a scalar
    # that is exactly a string's JSON becomes that string, as YAML would parse it. Inside
    # a longer string, it is the JSON text.
    whole = value._real if isinstance(value, Opaque) else None
    return found[0]._derived(text, "as JSON", whole=whole)


def _key(key: str) -> str:
    """A map key as stored: the real value of an opaque key. (Looking an opaque key up
    directly would compare it with stored real values, which it must never reveal.)"""
    return key._real if isinstance(key, Opaque) else key


class OpaqueMap(Mapping[str, Any]):
    """A map of the template context: looked up by real key, iterated as opaque keys,
    printed whole as one token (its JSON text). It remembers which keys were asked for
    (``looked_up``, present or not) and whether it was walked whole (``walked``): what a
    rendering depended on (a template's ``workloads``: whom a Workload waits for)."""

    def __init__(
        self,
        path: str,
        items: dict[str, Any],
        keys: list[Opaque],
        token: str,
        absent: Mapping[str, str] | None = None,
    ) -> None:
        self._path = path
        self._items = items
        self._keys = keys
        self._token = token
        self._absent = dict(absent or {})
        self.looked_up: set[str] = set()
        self.walked = False

    def _asked(self, key: object) -> str | None:
        if not isinstance(key, str):
            return None
        real = _key(key)
        self.looked_up.add(real)
        return real

    def __getitem__(self, key: str) -> Any:
        self._asked(key)
        return self._items[_key(key)]

    def __contains__(self, key: object) -> bool:
        return self._asked(key) in self._items

    def __iter__(self) -> Iterator[str]:
        self.walked = True
        return iter(self._keys)

    def __len__(self) -> int:
        self.walked = True
        return len(self._items)

    def __str__(self) -> str:
        return self._token

    __repr__ = __str__

    def lookup(self, environment: jinja2.Environment, key: Any) -> Any:
        if self._asked(key) in self._items:
            return self._items[_key(key)]
        name = key.describe() if isinstance(key, Opaque) else str(key)
        hint = self._absent.get(name) if isinstance(key, str) else None
        if hint is None:
            hint = f"{self._path} has no {name!r} (it has: {names(self._items)})"
        return environment.undefined(hint=hint, obj=self, name=name)


class OpaqueList(Sequence[Any]):
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


class Tokens:
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
            return Opaque(self, value, path)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return self.fields(path, value)
        if isinstance(value, list | tuple):
            wrapped = [self.wrap(item, f"{path}[{index}]") for index, item in enumerate(value)]
            return OpaqueList(wrapped, self.add(json_text(list(value))))
        raise TypeError(f"{path}: cannot pass a {type(value).__name__} to a template")

    def fields(
        self, path: str, value: Mapping[str, Any], absent: Mapping[str, str] | None = None
    ) -> OpaqueMap:
        """A map as the template sees it; ``absent`` explains keys it deliberately lacks."""
        items = {str(key): self.wrap(item, f"{path}.{key}") for key, item in value.items()}
        keys = [Opaque(self, str(key), f"a key of {path}") for key in value]
        return OpaqueMap(path, items, keys, self.add(json_text(value)), absent)

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


def restore(value: Any, tokens: Tokens, where: str) -> Any:
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
            result[real] = restore(item, tokens, f"{where}.{real}")
        return result
    if isinstance(value, list):
        return [restore(item, tokens, f"{where}[{index}]") for index, item in enumerate(value)]
    raise TemplateFailure(f"{where} is a {type(value).__name__}, which is not JSON")
