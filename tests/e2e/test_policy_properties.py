"""One rule, two places, never two answers (issue 18, point 2).

Hypothesis generates Environments (every rule, at every level, with defaults) and
Workloads (images with and without registry, path, tag and digest; replicas; limits;
resource types and classes). Each pair goes through the API server's admission (a
server-side dry-run create, with the ValidatingAdmissionPolicies of admission/) and
through the operator's own check (berth.render.policy), and the two must agree on the
verdict and word for word on the messages: the refusal's, and kubectl's warning.

The operator binds each Environment's policies by name; here no operator runs and the
examples come and go, so the test binds the same policies to this run's Environments by a
label (the CEL under test is the same).

How the API server is known to have the example's Environment: the policy plugin watches
Environments (its params) in the order they are written. After creating the example's
Environment, the test flips a second one (``sync``, serving a namespace of its own) and
waits until admission answers by the flipped rule: then the example's Environment, written
before, is there too.

No operator is needed (nor used): each Workload names its Environment in spec.environment.
Derandomized, tens of examples, a time limit.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from berth.api import Environment, Workload
from berth.names import DEFAULT_IMAGE_DOMAIN, ENVIRONMENT_LABEL
from berth.render.admission import policy_name
from berth.render.policy import policy_findings
from tests.kubeutil import GROUP, VERSION, Berth, wait_for

DIGEST = "sha256:" + "c0ffee" * 10 + "abcd"
# On this run's namespaces and Environments: what its bindings select.
ARENA_LABEL = "berth.dev/test-arena"


# How the API server introduces the deny policy's refusal and the warn policy's warning,
# whichever binding applied it: this test's, or (when an operator runs on the cluster
# too) the operator's own binding of the Environment that holds the examples' namespace.
DENIED = re.compile(
    r"ValidatingAdmissionPolicy 'berth-policy-deny' with binding '[^']+' denied request: (.*)$"
)
WARNED = re.compile(
    r"^Validation failed for ValidatingAdmissionPolicy 'berth-policy-warn' with binding "
    r"'[^']+': (.*)$"
)


LEVELS = ("Warn", "Audit", "Deny")
RULES = (
    "allowedRegistries",
    "maxReplicas",
    "requireLimits",
    "requireDigest",
    "disallowLatestTag",
    "allowedResources",
)

# -- what Hypothesis generates ------------------------------------------------------------

images = st.builds(
    lambda registry, path, name, tag, digest: registry + path + name + tag + digest,
    st.sampled_from(
        [
            "",
            "registry.acme.dev/",
            "registry.acme.dev:5000/",
            "localhost:5000/",
            "localhost/",
            "Acme/",
            f"{DEFAULT_IMAGE_DOMAIN}/",
        ]
    ),
    st.sampled_from(["", "library/", "acme/", "team/sub/"]),
    st.sampled_from(["app", "nginx"]),
    st.sampled_from(["", ":1.2", ":latest", ":v2-rc"]),
    st.sampled_from(["", f"@{DIGEST}", "@sha256:abc", "@"]),
)
limits = st.dictionaries(st.sampled_from(["cpu", "memory"]), st.sampled_from(["1", "512Mi"]))


@st.composite
def containers(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(["main", "sidecar", "tools"]), min_size=1, unique=True))
    result = {}
    for name in names:
        container: dict[str, Any] = {"image": draw(images)}
        own = draw(limits)
        if own:
            container["resources"] = {"limits": own}
        result[name] = container
    return result


resource = st.builds(
    lambda type_, class_: {"type": type_, **({"class": class_} if class_ else {})},
    st.sampled_from(["postgres", "redis", "route", "mysql"]),
    st.sampled_from([None, "small", "large", "huge"]),
)
workload_specs = st.fixed_dictionaries(
    {"containers": containers()},
    optional={
        "replicas": st.integers(0, 5),
        "resources": st.dictionaries(
            st.sampled_from(["db", "cache", "web"]), resource, min_size=1, max_size=3
        ),
    },
)
allowed_resources = st.lists(
    st.builds(
        lambda type_, classes: {"type": type_, **({"classes": classes} if classes else {})},
        st.sampled_from(["postgres", "redis", "route"]),
        st.lists(st.sampled_from(["small", "large"]), unique=True, max_size=2),
    ),
    unique_by=lambda entry: entry["type"],
    max_size=3,
)
policies = st.fixed_dictionaries(
    # Levels for a few rules in most examples: Warn and Audit come up as often as Deny.
    {
        "enforcement": st.dictionaries(st.sampled_from(RULES), st.sampled_from(LEVELS), min_size=2),
        "requireLimits": st.booleans(),
        "requireDigest": st.booleans(),
        "disallowLatestTag": st.booleans(),
    },
    optional={
        "allowedRegistries": st.lists(
            st.sampled_from(
                [
                    "registry.acme.dev/",
                    "registry.acme.dev/team/",
                    "localhost:5000/",
                    f"{DEFAULT_IMAGE_DOMAIN}/library/",
                    f"{DEFAULT_IMAGE_DOMAIN}/",
                ]
            ),
            min_size=1,
            max_size=3,
            unique=True,
        ),
        "maxReplicas": st.integers(0, 4),
        "allowedResources": allowed_resources,
    },
)
defaults = st.fixed_dictionaries(
    {},
    optional={
        "replicas": st.integers(0, 4),
        "containerResources": st.builds(
            lambda own: {"limits": own},
            st.dictionaries(
                st.sampled_from(["cpu", "memory"]), st.sampled_from(["1", "512Mi"]), min_size=1
            ),
        ),
    },
)

# -- the arena ----------------------------------------------------------------------------


@dataclass
class Arena:
    """A namespace for the examples, and the sync Environment with its own namespace."""

    berth: Berth
    api: ApiClient
    namespace: str
    sync_namespace: str
    sync_environment: str
    made: list[str]
    flips: Iterator[int]
    suffix: str  # this run's: its bindings select what carries it in ARENA_LABEL
    # How many examples got each verdict: refused, admitted with a warning, admitted.
    verdicts: Counter[str] = field(default_factory=Counter)

    def admission(self, namespace: str, body: dict[str, Any]) -> tuple[int, str, list[str]]:
        """A server-side dry-run create: HTTP status, the refusal's message, warnings."""
        request = self.api.param_serialize(
            "POST",
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/workloads",
            query_params=[("dryRun", "All")],
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request)
        data = json.loads(response.read() or b"{}")
        message = data.get("message", "") if response.status >= 400 else ""
        return response.status, message, warnings_of(response.headers)

    def sync(self) -> None:
        """Flip the sync Environment's maxReplicas and wait until admission answers by it:
        every Environment written before is then known to the policy plugin."""
        maximum = 0 if next(self.flips) % 2 == 0 else 1
        self.berth.patch_environment(
            self.sync_environment, {"spec": {"policy": {"maxReplicas": maximum}}}
        )
        probe = workload(self.sync_namespace, "probe", {"containers": {"main": {"image": "a:1"}}})
        probe["spec"]["replicas"] = 1
        want_refused = maximum == 0
        wait_for(
            lambda: (self.admission(self.sync_namespace, probe)[0] == 403) == want_refused,
            30,
            f"admission to see the sync Environment at maxReplicas {maximum}",
            interval=0.2,
        )


def warnings_of(headers: Any) -> list[str]:
    """The text of each ``Warning: 299 - "..."`` header of a response."""
    values = headers.getlist("Warning") if headers is not None else []
    return [value.split(" - ", 1)[1].strip().strip('"').replace('\\"', '"') for value in values]


def workload(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workload",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def environment(name: str, namespace: str, spec: dict[str, Any], arena: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Environment",
        "metadata": {"name": name, "labels": {"berth.dev/test": "true", ARENA_LABEL: arena}},
        "spec": {"type": "development", "namespace": namespace, **spec},
    }


@pytest.fixture(scope="module")
def arena(api: ApiClient, crds: None) -> Iterator[Arena]:
    core = k8s.CoreV1Api(api)
    suffix = uuid.uuid4().hex[:6]
    names = {"examples": f"prop-{suffix}", "sync": f"prop-sync-{suffix}"}
    for role, name in names.items():
        # The operator labels an Environment's namespace with its name; none runs here,
        # so the test does: admission only looks at labelled namespaces.
        label = names["sync"] if role == "sync" else "examples"
        core.create_namespace(
            k8s.V1Namespace(
                metadata=k8s.V1ObjectMeta(
                    name=name,
                    labels={
                        ENVIRONMENT_LABEL: label,
                        "berth.dev/test": "true",
                        ARENA_LABEL: suffix,
                    },
                )
            )
        )
    # The operator binds each Environment's policies by name (berth.render.admission);
    # none runs here, and the examples come and go, so the test binds the same policies
    # to this run's Environments by a label: the CEL under test is the same.
    bindings = k8s.AdmissionregistrationV1Api(api)
    for level in LEVELS:
        bindings.create_validating_admission_policy_binding(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": f"prop-{suffix}-{level.lower()}"},
                "spec": {
                    "policyName": policy_name(level),
                    "validationActions": [level],
                    "paramRef": {
                        "selector": {"matchLabels": {ARENA_LABEL: suffix}},
                        "parameterNotFoundAction": "Allow",
                    },
                    "matchResources": {
                        "namespaceSelector": {
                            "matchExpressions": [
                                {"key": ARENA_LABEL, "operator": "In", "values": [suffix]}
                            ]
                        }
                    },
                },
            }
        )
    berth = Berth(api)
    berth.create_environment(environment(names["sync"], names["sync"], {}, suffix))
    made = [names["sync"]]
    arena = Arena(
        berth, api, names["examples"], names["sync"], names["sync"], made, itertools.count(), suffix
    )
    yield arena
    for level in LEVELS:
        bindings.delete_validating_admission_policy_binding(f"prop-{suffix}-{level.lower()}")
    for name in made:
        berth.delete_environment(name)
    for name in names.values():
        core.delete_namespace(name, propagation_policy="Background")
    # The examples were worth comparing: each verdict came up, several times.
    verdicts = ("refused", "admitted", "warned", "audited")
    assert all(arena.verdicts[v] >= 3 for v in verdicts), arena.verdicts
    print(f"\nverdicts of the examples: {dict(arena.verdicts)}")


counter = itertools.count()


@pytest.mark.timeout(900)
@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example costs API calls
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(policy=policies, env_defaults=defaults, spec=workload_specs)
# The edges of the image grammar and of each rule, every run, before the generated ones.
@example(
    policy={"allowedRegistries": [f"{DEFAULT_IMAGE_DOMAIN}/"], "enforcement": {}},
    env_defaults={},
    spec={"containers": {"main": {"image": "Acme/app:1"}, "side": {"image": "acme/app:1"}}},
)
@example(
    policy={"allowedRegistries": ["localhost/", "localhost:5000/"], "enforcement": {}},
    env_defaults={},
    spec={"containers": {"a": {"image": "localhost/app"}, "b": {"image": "localhost:5000"}}},
)
@example(
    policy={
        "requireDigest": True,
        "disallowLatestTag": True,
        "enforcement": {"requireDigest": "Warn", "disallowLatestTag": "Deny"},
    },
    env_defaults={},
    spec={
        "containers": {
            "a": {"image": "r.dev/app@"},
            "b": {"image": f"r.dev/app:latest@{DIGEST}"},
            "c": {"image": "r.dev:5000/app"},
            "d": {"image": "r.dev/app:latest@sha256:abc"},
        }
    },
)
@example(
    policy={"allowedResources": [], "maxReplicas": 0, "enforcement": {"maxReplicas": "Warn"}},
    env_defaults={"replicas": 3},
    spec={"containers": {"main": {"image": "a:1"}}, "resources": {"db": {"type": "postgres"}}},
)
@example(
    policy={
        "allowedResources": [{"type": "postgres", "classes": ["small"]}, {"type": "route"}],
        "requireLimits": True,
        "enforcement": {"requireLimits": "Warn"},
    },
    env_defaults={"containerResources": {"limits": {"memory": "512Mi"}}},
    spec={
        "containers": {
            "main": {"image": "a:1"},
            "b": {"image": "a:1", "resources": {"limits": {"cpu": "1"}}},
        },
        "resources": {
            "db": {"type": "postgres"},
            "big": {"type": "postgres", "class": "large"},
            "web": {"type": "route", "class": "huge"},
            "q": {"type": "mysql", "class": "small"},
        },
    },
)
def test_admission_and_the_operator_give_one_answer_in_the_same_words(
    arena: Arena, policy: dict[str, Any], env_defaults: dict[str, Any], spec: dict[str, Any]
) -> None:
    name = f"{arena.namespace}-{next(counter)}"
    env_spec: dict[str, Any] = {"policy": policy}
    if env_defaults:
        env_spec["defaults"] = env_defaults
    stored = arena.berth.create_environment(
        environment(name, arena.namespace, env_spec, arena.suffix)
    )
    arena.made.append(name)
    arena.sync()

    body = workload(arena.namespace, "generated", {**spec, "environment": name})
    status, message, warnings = arena.admission(arena.namespace, body)

    findings = policy_findings(Workload.model_validate(body), Environment.model_validate(stored))
    by_level = {level: [f.message for f in findings if f.level == level] for level in LEVELS}
    said: list[str] = []
    for warning in warnings:
        found = WARNED.match(warning)
        assert found, warning
        said.append(found[1])
    if by_level["Deny"]:
        assert status == 403, (status, message, findings)
        refusal = DENIED.search(message)
        assert refusal, message
        assert refusal[1] == "; ".join(by_level["Deny"]), (message, findings)
    else:
        assert (status, message) == (201, ""), (status, message, findings)
    # One warning per warn binding that applied, each in the operator's words.
    if by_level["Warn"]:
        assert said, findings
        assert set(said) == {"; ".join(by_level["Warn"])}, (said, findings)
    else:
        assert said == [], (said, findings)
    arena.verdicts["refused" if by_level["Deny"] else "admitted"] += 1
    arena.verdicts["warned"] += bool(by_level["Warn"])
    arena.verdicts["audited"] += bool(by_level["Audit"])
    arena.berth.delete_environment(name)
    arena.made.remove(name)
