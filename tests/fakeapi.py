"""An in-memory stand-in for the API server, at the door Berth uses: ``KubeClient``.

For unit tests of the controllers (``handlers/``) and of ``kube/``: they run against
this instead of a cluster, and state what they expect as writes and Events. It is no
proof of how the real API server behaves — the integration and e2e suites are — only a
small model of it, close enough for the verbs Berth uses:

- ``FakeApi`` *is* a ``KubeClient``: the real client runs unchanged — its verbs
  (``get``, ``list``, ``apply``, ``merge_patch``, ``create``, ``delete``, ``path_for``)
  and its ``request`` (limiter, retries, error classes, write counting, and whatever a
  test hooks there, such as tests/statuscheck.py) — and only the wire (the aiohttp
  session) and discovery (``resource_info``) are replaced. So ``kube/`` code that sends
  raw requests (the finalizer's JSON patches) works too.
- Objects are stored by (apiVersion, kind, namespace, name), with a uid, a
  resourceVersion that moves on every change (and only then), a generation that moves
  when anything but metadata and status changes, and managedFields per manager.
- Server-side apply: fields a manager applied before and no longer applies are removed;
  lists are atomic; ``force=false`` conflicts with another manager's field of another
  value (409); a ``metadata.resourceVersion`` in the body is a precondition (409);
  ``dryRun=All`` answers what the object would be and stores nothing; the ``status``
  subresource writes only status, the main resource never writes status.
- Merge patch (RFC 7386) and JSON patch (RFC 6902, ``test`` failing with 422) record
  an ``Update`` in managedFields under the request's manager (the user agent: "berth").
- Update (PUT) replaces an existing object (404 if there is none) and, like delete,
  honours a ``resourceVersion`` precondition (409): what Leases rely on.
- Delete honours a uid precondition (409) and finalizers (the object only gets a
  deletionTimestamp until its last finalizer goes); ``collect_garbage`` plays the
  garbage collector (owner references).
- Every write that is not a dry run is recorded in order in ``writes`` as a ``Write``
  (verb, kind, namespace, name, body, subresource); every request in ``calls``. Events
  are ordinary objects here (Berth posts them through the client): ``events()``.
- ``refuse(...)`` makes the next matching requests fail with the ``ApiError`` the real
  client raises: the API server's Status body, reason and message shape. A 429 or 5xx
  is retried by the client as always (told ``Retry-After: 0``): refused ``times=1`` it
  then succeeds; refused for good, the error comes after the client's last attempt.
- ``fill(cache)`` hands a ``berth.handlers.cache.Cache`` the indices the kopf watches
  would build from the stored objects (the watch catching up), through the index
  functions of ``berth.handlers.watch`` themselves.
"""

from __future__ import annotations

import copy
import datetime
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from berth.kube.client import (
    APPLY_CONTENT_TYPE,
    MERGE_PATCH_CONTENT_TYPE,
    ApiError,
    KubeClient,
    ResourceInfo,
    _api_error,
)
from berth.kube.credentials import Credentials
from berth.names import MANAGED_BY_LABEL, MANAGED_BY_VALUE

JSON_PATCH_CONTENT_TYPE = "application/json-patch+json"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# The manager name the API server derives from our User-Agent when a request names none.
DEFAULT_MANAGER = "berth"

# (apiVersion, kind, plural, namespaced): what a test cluster serves out of the box.
BUILTIN_KINDS: tuple[tuple[str, str, str, bool], ...] = (
    ("v1", "Namespace", "namespaces", False),
    ("v1", "ConfigMap", "configmaps", True),
    ("v1", "Secret", "secrets", True),
    ("v1", "Service", "services", True),
    ("v1", "ServiceAccount", "serviceaccounts", True),
    ("v1", "Pod", "pods", True),
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    ("v1", "Event", "events", True),
    ("apps/v1", "Deployment", "deployments", True),
    ("networking.k8s.io/v1", "Ingress", "ingresses", True),
    ("coordination.k8s.io/v1", "Lease", "leases", True),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        False,
    ),
    ("berth.dev/v1alpha1", "Workload", "workloads", True),
    ("berth.dev/v1alpha1", "Environment", "environments", False),
    ("berth.dev/v1alpha1", "ClusterProvisioner", "clusterprovisioners", False),
    ("berth.dev/v1alpha1", "Preview", "previews", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
    ("berth.dev/v1alpha1", "WorkloadRevision", "workloadrevisions", True),
    ("berth.dev/v1alpha1", "Promotion", "promotions", True),
    ("berth.dev/v1alpha1", "PromotionApproval", "promotionapprovals", True),
    ("kopf.dev/v1", "ClusterKopfPeering", "clusterkopfpeerings", False),
    ("kopf.dev/v1", "KopfPeering", "kopfpeerings", True),
)
# Kinds whose status is written only through the status subresource.
NO_STATUS_SUBRESOURCE = frozenset(
    {"ConfigMap", "Secret", "ServiceAccount", "Event", "ValidatingAdmissionPolicyBinding"}
)

REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}

Key = tuple[str, str, str, str]  # (apiVersion, kind, namespace or "", name)


@dataclass(frozen=True)
class Call:
    """One request, as the API server saw it (reads and dry runs included)."""

    verb: str  # get, list, create, update, apply, patch, delete
    kind: str
    namespace: str
    name: str
    subresource: str = ""
    dry_run: bool = False


@dataclass(frozen=True)
class Write:
    """One write that changed (or tried to change) what is stored; never a dry run."""

    verb: str  # create, update, apply, patch, delete
    kind: str
    namespace: str
    name: str
    body: Any = None
    subresource: str = ""

    @property
    def what(self) -> tuple[str, str, str]:
        """(verb, kind, name), what most tests compare."""
        return (self.verb, self.kind, self.name)


@dataclass
class Refusal:
    """A rule: requests that match get this answer instead of being served."""

    status: int
    verb: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    subresource: str | None = None
    dry_run: bool | None = None  # None: dry runs and real writes alike
    message: str | None = None
    reason: str | None = None
    times: int | None = None  # None: until ``allow()``
    used: int = 0

    def matches(self, call: Call) -> bool:
        return (
            (self.verb is None or self.verb == call.verb)
            and (self.kind is None or self.kind == call.kind)
            and (self.name is None or self.name == call.name)
            and (self.namespace is None or self.namespace == call.namespace)
            and (self.subresource is None or self.subresource == call.subresource)
            and (self.dry_run is None or self.dry_run == call.dry_run)
            and (self.times is None or self.used < self.times)
        )


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class FakeApi(KubeClient):
    """A ``KubeClient`` whose API server is a dict. See the module's docstring."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime.datetime] = _utc_now,
        on_write: Callable[[str, str], None] | None = None,
        before_write: Callable[[], None] | None = None,
        after_write: Callable[[str, str, Any, float], None] | None = None,
    ) -> None:
        super().__init__(
            lambda: Credentials(server="https://fake-api.invalid"),
            on_write=on_write,
            before_write=before_write,
            after_write=after_write,
        )
        self.now = now
        self.objects: dict[Key, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.writes_log: list[Write] = []
        self.refusals: list[Refusal] = []
        self._kinds: dict[tuple[str, str], ResourceInfo] = {}
        self._plurals: dict[tuple[str, str], ResourceInfo] = {}
        self._rv = itertools.count(1000)
        self._uid = itertools.count(1)
        self._generated = itertools.count(1)
        for api_version, kind, plural, namespaced in BUILTIN_KINDS:
            self.serve(api_version, kind, plural, namespaced=namespaced)

    # -- what the cluster serves ----------------------------------------------------------

    def serve(
        self, api_version: str, kind: str, plural: str | None = None, *, namespaced: bool = True
    ) -> None:
        """Serve one more kind (a claim CRD, say), as installing its CRD would."""
        info = ResourceInfo(api_version, kind, plural or kind.lower() + "s", namespaced)
        self._kinds[(api_version, kind)] = info
        self._plurals[(api_version, info.plural)] = info

    def unserve(self, api_version: str, kind: str) -> None:
        info = self._kinds.pop((api_version, kind))
        del self._plurals[(api_version, info.plural)]

    async def resource_info(self, api_version: str, kind: str) -> ResourceInfo:
        info = self._kinds.get((api_version, kind))
        if info is None:
            if not any(v == api_version for v, _ in self._kinds):
                raise ApiError(404, "NotFound", f"the API server does not serve {api_version}")
            raise ApiError(
                404, "NotFound", f"the API server does not serve kind {kind} in {api_version}"
            )
        return info

    async def close(self) -> None:
        return None  # the session is this object's own; nothing to let go

    # -- arranging state (no request, nothing recorded) --------------------------------------

    def add(
        self, obj: Mapping[str, Any], *, manager: str = "kubectl", operation: str = "Update"
    ) -> dict[str, Any]:
        """Store an object as if someone (``manager``, by ``operation``) had created it;
        returns it."""
        body = _copy(obj)
        info = self._kinds[(body["apiVersion"], body["kind"])]
        meta = body.setdefault("metadata", {})
        if not info.namespaced:
            meta.pop("namespace", None)
        key = _key(body)
        if key in self.objects:
            raise ValueError(f"{key} exists already")
        self._stamp_new(body)
        if manager and not meta.get("managedFields"):
            meta["managedFields"] = [
                _managed_entry(
                    manager, operation, body["apiVersion"], _fieldset(body), self._time()
                )
            ]
        self.objects[key] = body
        return _copy(body)

    def put(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace a stored object as it is given (identity kept, resourceVersion moved):
        for a test to play another writer or a controller. Nothing is recorded."""
        body = _copy(obj)
        key = _key(body)
        old = self.objects[key]
        meta = body["metadata"]
        meta["uid"] = old["metadata"]["uid"]
        meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
        meta.setdefault("generation", old["metadata"].get("generation", 1))
        meta.setdefault("managedFields", old["metadata"].get("managedFields", []))
        meta["resourceVersion"] = str(next(self._rv))
        self.objects[key] = body
        return _copy(body)

    def edit(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Mapping[str, Any],
        *,
        manager: str = "kubectl",
        subresource: str = "",
    ) -> dict[str, Any]:
        """Merge-patch an object as another manager would (``kubectl edit``, a controller
        writing status): managedFields and versions move as on the server. Not recorded
        as one of Berth's writes."""
        key = (api_version, kind, namespace or "", name)
        return self._merge_patch(key, dict(patch), manager, subresource, dry_run=False)

    def set_status(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        status: Mapping[str, Any],
        *,
        manager: str = "kube-controller-manager",
    ) -> dict[str, Any]:
        """Write an object's status as its controller would (merged into what is there)."""
        return self.edit(
            api_version,
            kind,
            name,
            namespace,
            {"status": dict(status)},
            manager=manager,
            subresource="status",
        )

    def remove(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        """Make an object vanish at once, as if deleted and collected."""
        del self.objects[(api_version, kind, namespace or "", name)]

    def collect_garbage(self) -> list[Key]:
        """Play the garbage collector once: delete what has an owner reference to an
        object that no longer exists (by uid). Returns what went."""
        uids = {o["metadata"]["uid"] for o in self.objects.values()}
        gone = []
        for key, obj in list(self.objects.items()):
            refs = obj["metadata"].get("ownerReferences") or []
            if refs and not any(r.get("uid") in uids for r in refs):
                self._delete_stored(key)
                gone.append(key)
        return gone

    # -- refusing --------------------------------------------------------------------------------

    def refuse(
        self,
        verb: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        *,
        status: int,
        message: str | None = None,
        reason: str | None = None,
        namespace: str | None = None,
        subresource: str | None = None,
        dry_run: bool | None = None,
        times: int | None = None,
    ) -> Refusal:
        """Answer matching requests with ``status`` (and the API server's Status body)
        instead of serving them: ``times`` times, or until ``allow()``. ``verb`` is one of
        get, list, create, update, apply, patch, delete; None matches any (likewise the rest).
        Without a message, one in the API server's words for that status is made up."""
        rule = Refusal(
            status, verb, kind, name, namespace, subresource, dry_run, message, reason, times
        )
        self.refusals.append(rule)
        return rule

    def allow(self) -> None:
        """Forget every refusal."""
        self.refusals.clear()

    # -- reading what happened --------------------------------------------------------------------

    def stored(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """An object as stored now (a copy), or None. No request, nothing recorded."""
        obj = self.objects.get((api_version, kind, namespace or "", name))
        return _copy(obj) if obj is not None else None

    def of_kind(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [
            _copy(o)
            for k, o in sorted(self.objects.items())
            if k[1] == kind and (namespace is None or k[2] == namespace)
        ]

    def events(self, involved: str | None = None) -> list[tuple[str, str, str]]:
        """The Events stored, as (type, reason, message), oldest first; only those about
        objects named ``involved`` when given."""
        found = [
            o
            for o in self.objects.values()
            if o["kind"] == "Event"
            and (involved is None or o.get("involvedObject", {}).get("name") == involved)
        ]
        found.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))
        return [(e["type"], e["reason"], e["message"]) for e in found]

    def event_reasons(self, involved: str | None = None) -> list[str]:
        return [reason for _, reason, _ in self.events(involved)]

    def written(self, *, include_events: bool = False) -> list[tuple[str, str, str]]:
        """(verb, kind, name) of every write in order; Events left out unless asked."""
        return [w.what for w in self.writes_log if include_events or w.kind != "Event"]

    def forget_history(self) -> None:
        """Clear the record of calls and writes (not the objects): 'from here on'."""
        self.calls.clear()
        self.writes_log.clear()
        self.writes.clear()

    # -- the cache the watches would fill --------------------------------------------------------

    def stores(self) -> dict[str, Any]:
        """What the informers (``berth.handlers.watch.WATCHED``) would keep of what is
        stored: one ``berth.kube.informer.Store`` per watched kind."""
        return stores_holding(*(obj for _, obj in sorted(self.objects.items())))

    async def fill(self, cache: Any) -> Any:
        """Give ``cache`` (a ``berth.handlers.cache.Cache``) the stores of what is stored
        now, as the informers would once caught up; returns it."""
        cache.attach(self.stores())
        return cache

    # -- the transport ------------------------------------------------------------------------

    def _new_session(self) -> Any:
        # The real client's request() runs unchanged (limiter, retries, error classes,
        # write counting, and whatever tests hook there); only the wire is this dict.
        return _Session(self)

    def answer(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        content_type: str,
    ) -> tuple[int, Any, dict[str, str]]:
        """Serve one HTTP request: (status, JSON document, headers), as the API server
        would answer it."""
        params = dict(params or {})
        try:
            info, namespace, name, subresource = self._parse(path)
        except ApiError as err:
            return err.status, err.body, {}
        dry_run = bool(params.get("dryRun"))
        if method == "GET":
            verb = "get" if name else "list"
        elif method == "POST":
            verb = "create"
        elif method == "DELETE":
            verb = "delete"
        elif method == "PUT":
            verb = "update"
        elif method == "PATCH" and content_type == APPLY_CONTENT_TYPE:
            verb = "apply"
        elif method == "PATCH":
            verb = "patch"
        else:
            verb = method.lower()
        body = json.loads(data) if data else None
        if verb == "create" and isinstance(body, dict):
            name = (body.get("metadata") or {}).get("name") or ""
        call = Call(verb, info.kind, namespace, name, subresource, dry_run)
        self.calls.append(call)
        try:
            for rule in self.refusals:
                if rule.matches(call):
                    rule.used += 1
                    err = self._error(rule.status, info, name, rule.message, rule.reason)
                    # Come back at once: the client's retries need not wait in a test.
                    retry = {"Retry-After": "0"} if rule.status == 429 or rule.status >= 500 else {}
                    return err.status, err.body, retry
            result = self._serve(
                verb, info, namespace, name, subresource, params, body, content_type, dry_run
            )
        except ApiError as err:
            return err.status, err.body, {}
        if verb in ("get", "list"):
            return 200, result, {}
        if not dry_run:
            if verb == "create":
                name = result["metadata"]["name"]
            self.writes_log.append(Write(verb, info.kind, namespace, name, body, subresource))
        return (201 if verb == "create" else 200), result, {}

    def _serve(
        self,
        verb: str,
        info: ResourceInfo,
        namespace: str,
        name: str,
        subresource: str,
        params: Mapping[str, str],
        body: Any,
        content_type: str,
        dry_run: bool,
    ) -> Any:
        key = (info.api_version, info.kind, namespace, name)
        manager = params.get("fieldManager") or DEFAULT_MANAGER
        if verb == "get":
            return self._get(key, info)
        if verb == "list":
            return self._list(info, namespace, params.get("labelSelector"))
        if verb == "apply":
            return self._apply(
                key, info, body, manager, subresource, dry_run, force=params.get("force") == "true"
            )
        if verb == "patch" and content_type == MERGE_PATCH_CONTENT_TYPE:
            return self._merge_patch(key, body, manager, subresource, dry_run)
        if verb == "patch" and content_type == JSON_PATCH_CONTENT_TYPE:
            return self._json_patch(key, body, manager, subresource, dry_run)
        if verb == "create":
            return self._create(info, namespace, body, manager, dry_run)
        if verb == "update":
            return self._update(key, info, body, manager, dry_run)
        if verb == "delete":
            return self._delete(key, info, body or {}, dry_run)
        raise self._error(405, info, name, f"{verb} is not served by the fake", "MethodNotAllowed")

    # -- serving ----------------------------------------------------------------------------

    def _parse(self, path: str) -> tuple[ResourceInfo, str, str, str]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api":
            api_version, rest = parts[1], parts[2:]
        else:
            api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces" and (api_version, rest[2]) in self._plurals:
            namespace, rest = rest[1], rest[2:]
        info = self._plurals.get((api_version, rest[0]))
        if info is None:
            raise ApiError(
                404, "NotFound", f"the server could not find the requested resource ({path})"
            )
        name = rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        return info, namespace, name, subresource

    def _error(
        self,
        status: int,
        info: ResourceInfo,
        name: str,
        message: str | None = None,
        reason: str | None = None,
        extra: str = "",
    ) -> ApiError:
        """The ApiError the real client raises for this answer, from the Status body the
        API server sends (same reason, message and details)."""
        group = info.api_version.rsplit("/", 1)[0] if "/" in info.api_version else ""
        resource = f"{info.plural}.{group}" if group else info.plural
        reason = reason or REASONS.get(status, "Unknown")
        if message is None:
            message = {
                403: f'{resource} "{name}" is forbidden: User "system:serviceaccount:berth:berth"'
                f' cannot patch resource "{info.plural}" in API group "{group}"',
                404: f'{resource} "{name}" not found',
                409: f'Operation cannot be fulfilled on {resource} "{name}": the object has been'
                " modified; please apply your changes to the latest version and try again",
                422: f'{info.kind}{"." + group if group else ""} "{name}" is invalid: '
                + (extra or "spec: Invalid value"),
                429: "Too many requests, please try again later.",
                500: "Internal error occurred: etcdserver: request timed out",
            }.get(status, f"the server answered {status}")
        doc = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": {"name": name, "group": group, "kind": info.plural},
            "code": status,
        }
        return _api_error(status, json.dumps(doc), f"{info.kind} {name}")

    def _get(self, key: Key, info: ResourceInfo) -> dict[str, Any]:
        obj = self.objects.get(key)
        if obj is None:
            raise self._error(404, info, key[3])
        return _copy(obj)

    def _list(self, info: ResourceInfo, namespace: str, selector: str | None) -> dict[str, Any]:
        match = _selector(selector)
        items = []
        for key, obj in sorted(self.objects.items()):
            if key[:2] != (info.api_version, info.kind):
                continue
            if namespace and key[2] != namespace:
                continue
            if not match(obj["metadata"].get("labels") or {}):
                continue
            item = _copy(obj)
            item.pop("apiVersion", None)  # list items come without them
            item.pop("kind", None)
            items.append(item)
        return {
            "apiVersion": info.api_version,
            "kind": f"{info.kind}List",
            "metadata": {"resourceVersion": str(next(self._rv))},
            "items": items,
        }

    def _time(self) -> str:
        return self.now().astimezone(datetime.UTC).strftime(TIME_FORMAT)

    def _stamp_new(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        meta["uid"] = meta.get("uid") or f"00000000-0000-4000-8000-{next(self._uid):012d}"
        meta["resourceVersion"] = str(next(self._rv))
        meta["generation"] = 1
        meta.setdefault("creationTimestamp", self._time())
        if body["kind"] == "Namespace":
            body.setdefault("status", {"phase": "Active"})

    def _store(
        self, key: Key, before: dict[str, Any] | None, after: dict[str, Any]
    ) -> dict[str, Any]:
        """Store ``after`` unless it equals ``before``; versions move only on a change."""
        if before is not None and after == before:
            return _copy(before)
        meta = after["metadata"]
        if before is not None:
            if _spec_of(before) != _spec_of(after):
                meta["generation"] = int(before["metadata"].get("generation") or 1) + 1
            meta["resourceVersion"] = str(next(self._rv))
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                del self.objects[key]
                return _copy(after)
        self.objects[key] = after
        return _copy(after)

    def _apply(
        self,
        key: Key,
        info: ResourceInfo,
        body: dict[str, Any],
        manager: str,
        subresource: str,
        dry_run: bool,
        *,
        force: bool,
    ) -> dict[str, Any]:
        config = _copy(body)
        meta = config.get("metadata") or {}
        if (config.get("apiVersion"), config.get("kind")) != (info.api_version, info.kind):
            raise self._error(
                400, info, key[3], "the body's apiVersion and kind do not match the path"
            )
        precondition = meta.pop("resourceVersion", None)
        for k in ("name", "namespace", "uid", "generation", "creationTimestamp", "managedFields"):
            meta.pop(k, None)
        # What this request may write: only status through /status, never it otherwise.
        if subresource == "status":  # metadata sent to /status is ignored
            config = {"status": config.get("status") or {}}
        else:
            if info.kind not in NO_STATUS_SUBRESOURCE:
                config.pop("status", None)
            config.pop("apiVersion", None)
            config.pop("kind", None)
            config["metadata"] = {k: v for k, v in meta.items() if k in _OWNED_META}
        before = self.objects.get(key)
        if precondition is not None and (
            before is None or before["metadata"]["resourceVersion"] != str(precondition)
        ):
            raise self._error(409, info, key[3])
        if before is None:
            if subresource:
                raise self._error(404, info, key[3])
            obj: dict[str, Any] = {
                "apiVersion": info.api_version,
                "kind": info.kind,
                "metadata": {"name": key[3], **({"namespace": key[2]} if key[2] else {})},
            }
            self._stamp_new(obj)
        else:
            obj = _copy(before)
        fields = _fieldset(config)
        entries: list[dict[str, Any]] = obj["metadata"].get("managedFields") or []
        mine = next(
            (
                e
                for e in entries
                if e["manager"] == manager
                and e["operation"] == "Apply"
                and (e.get("subresource") or "") == subresource
            ),
            None,
        )
        others = [e for e in entries if e is not mine]
        # Conflicts: a field another manager owns, set to another value.
        conflicts = []
        for entry in others:
            if (entry.get("subresource") or "") != subresource:
                continue
            for path in _paths(entry.get("fieldsV1") or {}) & _paths(fields):
                if _at(obj, path) != _at(config, path):
                    conflicts.append((entry["manager"], path))
        if conflicts and not force:
            detail = "; ".join(f'conflict with "{m}": .{".".join(p)}' for m, p in conflicts)
            raise self._error(
                409, info, key[3], f"Apply failed with {len(conflicts)} conflict(s): {detail}"
            )
        # Fields this manager applied before and applies no more go, unless others own them.
        if mine is not None:
            still_owned = (
                set().union(
                    *(
                        _paths(e.get("fieldsV1") or {})
                        for e in others
                        if (e.get("subresource") or "") == subresource
                    )
                )
                if others
                else set()
            )
            for path in sorted(
                _paths(mine.get("fieldsV1") or {}) - _paths(fields) - still_owned,
                key=len,
                reverse=True,
            ):
                _remove_at(obj, path)
        _merge_into(obj, config)
        # Taken over with force: the others no longer own what we now set. Our entry
        # keeps its place, and its time when nothing changed (a no-op writes nothing).
        taken = {p for _, p in conflicts}
        changed = before is None or _without_managed(obj) != _without_managed(before)
        ours = mine
        if changed or mine is None or _paths(mine.get("fieldsV1") or {}) != _paths(fields):
            ours = _managed_entry(
                manager, "Apply", info.api_version, fields, self._time(), subresource
            )
        new_entries = []
        for entry in entries:
            if entry is mine:
                if fields:  # a manager that applies nothing owns nothing: its entry goes
                    new_entries.append(ours)
                continue
            if taken and (entry.get("subresource") or "") == subresource:
                remaining = _paths(entry.get("fieldsV1") or {}) - taken
                if not remaining:
                    continue
                entry = {**entry, "fieldsV1": _from_paths(remaining)}
            new_entries.append(entry)
        if mine is None and fields:
            new_entries.append(ours)
        obj["metadata"]["managedFields"] = new_entries
        if dry_run:
            if before is not None and obj != before:
                obj["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"]
            return _copy(obj)
        return self._store(key, before, obj)

    def _update_managed(
        self,
        obj: dict[str, Any],
        manager: str,
        fields: dict[str, Any],
        subresource: str,
        api_version: str,
    ) -> None:
        paths = _paths(fields)
        entries = []
        mine = None
        for entry in obj["metadata"].get("managedFields") or []:
            if (
                entry["manager"] == manager
                and entry["operation"] == "Update"
                and (entry.get("subresource") or "") == subresource
            ):
                mine = entry
                continue
            if (entry.get("subresource") or "") == subresource:
                remaining = _paths(entry.get("fieldsV1") or {}) - paths
                if not remaining:
                    continue
                entry = {**entry, "fieldsV1": _from_paths(remaining)}
            entries.append(entry)
        owned = paths | (_paths(mine.get("fieldsV1") or {}) if mine else set())
        entries.append(
            _managed_entry(
                manager, "Update", api_version, _from_paths(owned), self._time(), subresource
            )
        )
        obj["metadata"]["managedFields"] = entries

    def _merge_patch(
        self, key: Key, patch: dict[str, Any], manager: str, subresource: str, dry_run: bool
    ) -> dict[str, Any]:
        info = self._kinds[(key[0], key[1])]
        before = self.objects.get(key)
        if before is None:
            raise self._error(404, info, key[3])
        if subresource == "status":
            patch = {"status": patch.get("status")}
        elif info.kind not in NO_STATUS_SUBRESOURCE:
            patch = {k: v for k, v in patch.items() if k != "status"}
        obj = _merge_patch(_copy(before), patch)
        if obj == before:
            return _copy(before)
        self._update_managed(
            obj, manager, _fieldset(_non_null(patch)), subresource, info.api_version
        )
        if dry_run:
            return obj
        return self._store(key, before, obj)

    def _json_patch(
        self, key: Key, ops: list[dict[str, Any]], manager: str, subresource: str, dry_run: bool
    ) -> dict[str, Any]:
        info = self._kinds[(key[0], key[1])]
        before = self.objects.get(key)
        if before is None:
            raise self._error(404, info, key[3])
        obj = _copy(before)
        touched: dict[str, Any] = {}
        for op in ops:
            path = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
            try:
                _json_op(obj, op["op"], path, op.get("value"))
            except _PatchFailed as failed:
                raise self._error(
                    422,
                    info,
                    key[3],
                    f"the server rejected our request due to an error in our request: {failed}",
                ) from None
            if op["op"] != "test":
                touched = _merge_into(
                    touched, _nest([p for p in path if not p.isdigit() and p != "-"])
                )
        if obj == before:
            return _copy(before)
        if "managedFields" in (touched.get("metadata") or {}):
            # As the API server does: managedFields the request sets are taken as given
            # ([{}] clears them), and the request's own changes are not recorded.
            entries = [e for e in obj["metadata"].get("managedFields") or [] if e]
            obj["metadata"]["managedFields"] = entries
        else:
            self._update_managed(obj, manager, _fieldset(touched), subresource, info.api_version)
        if dry_run:
            return obj
        return self._store(key, before, obj)

    def _create(
        self, info: ResourceInfo, namespace: str, body: dict[str, Any], manager: str, dry_run: bool
    ) -> dict[str, Any]:
        obj = _copy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise self._error(422, info, "", extra="metadata.name: Required value")
            meta["name"] = f"{prefix}{next(self._generated):05x}"
        if info.namespaced:
            meta["namespace"] = namespace
        key = (info.api_version, info.kind, namespace, meta["name"])
        if key in self.objects:
            group = info.api_version.rsplit("/", 1)[0] if "/" in info.api_version else ""
            resource = f"{info.plural}.{group}" if group else info.plural
            raise self._error(
                409,
                info,
                meta["name"],
                f'{resource} "{meta["name"]}" already exists',
                "AlreadyExists",
            )
        self._stamp_new(obj)
        meta["managedFields"] = [
            _managed_entry(manager, "Update", info.api_version, _fieldset(body), self._time())
        ]
        if dry_run:
            return obj
        self.objects[key] = obj
        return _copy(obj)

    def _update(
        self, key: Key, info: ResourceInfo, body: Any, manager: str, dry_run: bool
    ) -> dict[str, Any]:
        """PUT: the whole object as sent (status kept), if it exists and, when the body
        names a resourceVersion, is still that version."""
        before = self.objects.get(key)
        if before is None:
            raise self._error(404, info, key[3])
        if not isinstance(body, dict):
            raise self._error(400, info, key[3], "the request body is not an object")
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted and str(wanted) != before["metadata"]["resourceVersion"]:
            raise self._error(409, info, key[3])
        after: dict[str, Any] = _copy(body)
        after["apiVersion"], after["kind"] = info.api_version, info.kind
        meta = after.setdefault("metadata", {})
        for field_ in ("uid", "creationTimestamp", "generation", "resourceVersion"):
            if field_ in before["metadata"]:
                meta[field_] = before["metadata"][field_]
        meta["name"] = key[3]
        if info.namespaced:
            meta["namespace"] = key[2]
        if "status" in before:
            after["status"] = _copy(before["status"])
        else:
            after.pop("status", None)
        meta["managedFields"] = [
            *[
                e
                for e in before["metadata"].get("managedFields") or []
                if not (e["manager"] == manager and e["operation"] == "Update")
            ],
            _managed_entry(manager, "Update", info.api_version, _fieldset(body), self._time()),
        ]
        if dry_run:
            return after
        return self._store(key, before, after)

    def _delete(
        self, key: Key, info: ResourceInfo, options: Mapping[str, Any], dry_run: bool
    ) -> dict[str, Any]:
        obj = self.objects.get(key)
        if obj is None:
            raise self._error(404, info, key[3])
        uid = (options.get("preconditions") or {}).get("uid")
        if uid and uid != obj["metadata"]["uid"]:
            raise self._error(
                409,
                info,
                key[3],
                f"Precondition failed: UID in precondition: {uid}, "
                f"UID in object meta: {obj['metadata']['uid']}",
            )
        rv = (options.get("preconditions") or {}).get("resourceVersion")
        if rv and str(rv) != obj["metadata"]["resourceVersion"]:
            raise self._error(
                409,
                info,
                key[3],
                f"Precondition failed: ResourceVersion in precondition: {rv}, "
                f"ResourceVersion in object meta: {obj['metadata']['resourceVersion']}",
            )
        if dry_run:
            return _copy(obj)
        if obj["metadata"].get("finalizers"):
            if not obj["metadata"].get("deletionTimestamp"):
                after = _copy(obj)
                after["metadata"]["deletionTimestamp"] = self._time()
                after["metadata"]["deletionGracePeriodSeconds"] = 0
                return self._store(key, obj, after)
            return _copy(obj)
        self._delete_stored(key)
        return {"kind": "Status", "apiVersion": "v1", "status": "Success"}

    def _delete_stored(self, key: Key) -> None:
        obj = self.objects[key]
        if obj["metadata"].get("finalizers"):
            if not obj["metadata"].get("deletionTimestamp"):
                obj["metadata"]["deletionTimestamp"] = self._time()
                obj["metadata"]["resourceVersion"] = str(next(self._rv))
            return
        del self.objects[key]


# -- the wire -------------------------------------------------------------------------------


class _Response:
    """What the client reads of an aiohttp response: status, headers, text."""

    def __init__(self, status: int, doc: Any, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers
        self._text = "" if doc is None else json.dumps(doc)

    async def text(self) -> str:
        return self._text

    async def __aenter__(self) -> _Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Session:
    """Stands where the client's aiohttp session stands: each request is answered by
    the FakeApi at once."""

    def __init__(self, api: FakeApi) -> None:
        self._api = api

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Response:
        content_type = (headers or {}).get("Content-Type", "application/json")
        status, doc, answer_headers = self._api.answer(
            method, "/" + path, params, data, content_type
        )
        return _Response(status, doc, answer_headers)

    async def close(self) -> None:
        return None


# -- helpers: copies, field sets, patches -----------------------------------------------------


def stores_holding(*objects: Mapping[str, Any], keep: bool = True) -> dict[str, Any]:
    """The informers' stores (``berth.handlers.watch.WATCHED``), holding ``objects`` as
    an informer would keep them (``keep``), or whole; the children and Pods only with
    our managed-by label, which their watches select by."""
    from berth.handlers.watch import WATCHED
    from berth.kube.informer import Store, object_key

    result: dict[str, Any] = {}
    for watched in WATCHED:
        store = Store(index_of=watched.index)
        for obj in objects:
            if (obj["apiVersion"], obj["kind"]) != (watched.api_version, watched.kind):
                continue
            labels = obj["metadata"].get("labels") or {}
            if watched.selector and labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE:
                continue
            kept = watched.keep(_copy(obj)) if keep else _copy(obj)
            store.put("informer", object_key(obj), kept)
        result[watched.name] = store
    return result


_OWNED_META = ("labels", "annotations", "ownerReferences", "finalizers")


def _copy(obj: Any) -> Any:
    return copy.deepcopy(obj)


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"])


def _spec_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What moves the generation: everything but metadata and status (and, as for
    custom resources, a new deletionTimestamp)."""
    rest = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    rest["__deleting"] = bool(obj.get("metadata", {}).get("deletionTimestamp"))
    return rest


def _without_managed(obj: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(obj)
    result["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    return result


def _fieldset(obj: Any) -> dict[str, Any]:
    """The fieldsV1 of a body: every map key as ``f:key``; lists and scalars are leaves
    (the real API server tracks list items by key; atomic is enough here)."""
    if not isinstance(obj, Mapping):
        return {}
    result: dict[str, Any] = {}
    for k, v in obj.items():
        if k in ("apiVersion", "kind"):
            continue
        if k == "metadata" and isinstance(v, Mapping):
            v = {m: x for m, x in v.items() if m in _OWNED_META}
            if not v:
                continue
        result[f"f:{k}"] = _fieldset(v) if isinstance(v, Mapping) else {}
    return result


def _paths(fields: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """The leaf paths of a fieldsV1 (a map that is itself set counts as its leaves)."""
    found: set[tuple[str, ...]] = set()
    for k, v in fields.items():
        if not k.startswith("f:"):
            continue
        path = (*prefix, k[2:])
        if isinstance(v, Mapping) and any(x.startswith("f:") for x in v):
            found |= _paths(v, path)
        else:
            found.add(path)
    return found


def _from_paths(paths: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for path in paths:
        node = result
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return result


_MISSING = object()


def _at(obj: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(obj, Mapping) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


def _remove_at(obj: dict[str, Any], path: tuple[str, ...]) -> None:
    parents = [obj]
    for part in path[:-1]:
        nxt = parents[-1].get(part)
        if not isinstance(nxt, dict):
            return
        parents.append(nxt)
    parents[-1].pop(path[-1], None)
    # Maps left empty by the removal go too (metadata stays).
    for depth in range(len(path) - 1, 0, -1):
        parent, part = parents[depth - 1], path[depth - 1]
        if parent.get(part) == {} and not (depth == 1 and part == "metadata"):
            parent.pop(part)


def _merge_into(target: dict[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge maps; anything else in ``source`` replaces what ``target`` had."""
    for k, v in source.items():
        if isinstance(v, Mapping) and isinstance(target.get(k), dict):
            _merge_into(target[k], v)
        else:
            target[k] = _copy(v)
    return target


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, Mapping):
        return _copy(patch)
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = _merge_patch(target.get(k), v)
    return target


def _non_null(patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return patch
    return {k: _non_null(v) for k, v in patch.items() if v is not None}


def _nest(path: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    node = result
    for part in path:
        node[part] = {}
        node = node[part]
    return result


class _PatchFailed(Exception):
    pass


def _json_op(obj: Any, op: str, path: list[str], value: Any) -> None:
    """One RFC 6902 operation (test, add, remove, replace), in place."""
    parent = obj
    for part in path[:-1]:
        if isinstance(parent, list):
            if not part.isdigit() or int(part) >= len(parent):
                raise _PatchFailed(f"no such path /{'/'.join(path)}")
            parent = parent[int(part)]
        elif isinstance(parent, dict) and part in parent:
            parent = parent[part]
        else:
            raise _PatchFailed(f"no such path /{'/'.join(path)}")
    last = path[-1]
    if isinstance(parent, list):
        if last == "-" and op == "add":
            parent.append(_copy(value))
            return
        if (
            not last.isdigit()
            or int(last) > len(parent)
            or (op != "add" and int(last) >= len(parent))
        ):
            raise _PatchFailed(f"index out of range at /{'/'.join(path)}")
        index = int(last)
        if op == "test":
            if parent[index] != value:
                raise _PatchFailed(
                    f"testing value /{'/'.join(path)} failed: {parent[index]!r} is not {value!r}"
                )
        elif op == "add":
            parent.insert(index, _copy(value))
        elif op == "remove":
            del parent[index]
        elif op == "replace":
            parent[index] = _copy(value)
        return
    if not isinstance(parent, dict):
        raise _PatchFailed(f"no such path /{'/'.join(path)}")
    if op == "test":
        if parent.get(last, _MISSING) != value:
            raise _PatchFailed(
                f"testing value /{'/'.join(path)} failed: {parent.get(last)!r} is not {value!r}"
            )
    elif op == "add":
        parent[last] = _copy(value)
    elif op in ("remove", "replace"):
        if last not in parent:
            raise _PatchFailed(f"no such path /{'/'.join(path)}")
        if op == "remove":
            del parent[last]
        else:
            parent[last] = _copy(value)
    else:
        raise _PatchFailed(f"operation {op!r} is not supported by the fake")


def _selector(text: str | None) -> Callable[[Mapping[str, str]], bool]:
    """A label selector of the equality kinds: ``k``, ``!k``, ``k=v``, ``k==v``, ``k!=v``."""
    terms = [t.strip() for t in (text or "").split(",") if t.strip()]

    def match(labels: Mapping[str, str]) -> bool:
        for term in terms:
            if "!=" in term:
                k, v = term.split("!=", 1)
                if labels.get(k) == v:
                    return False
            elif "=" in term:
                k, v = term.replace("==", "=").split("=", 1)
                if labels.get(k) != v:
                    return False
            elif term.startswith("!"):
                if term[1:] in labels:
                    return False
            elif term not in labels:
                return False
        return True

    return match


def _managed_entry(
    manager: str,
    operation: str,
    api_version: str,
    fields: Mapping[str, Any],
    time: str,
    subresource: str = "",
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": dict(fields),
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def counted(writes: Iterable[Write]) -> Counter[tuple[str, str]]:
    """Writes by (verb, kind)."""
    return Counter((w.verb, w.kind) for w in writes)


class FakeClock:
    """A ``berth.clock.Clock`` that stands still until a test moves it."""

    def __init__(self, start: datetime.datetime | str = "2026-01-01T12:00:00Z") -> None:
        if isinstance(start, str):
            start = datetime.datetime.strptime(start, TIME_FORMAT).replace(tzinfo=datetime.UTC)
        self._now = start
        self._monotonic = 1000.0

    def now(self) -> datetime.datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._now += datetime.timedelta(seconds=seconds)
        self._monotonic += seconds

    def set(self, moment: datetime.datetime | str) -> None:
        """Jump the wall clock (the monotonic one moves by as much, never back)."""
        if isinstance(moment, str):
            moment = datetime.datetime.strptime(moment, TIME_FORMAT).replace(tzinfo=datetime.UTC)
        self._monotonic += max(0.0, (moment - self._now).total_seconds())
        self._now = moment
