"""Generated Workloads — valid, near-valid and hostile — each end with an answer.

Hypothesis draws Workload specs the way users (and fuzzers) write them: astral
characters, tabs and '=' in names, integers at every edge, images with whitespace, ports
that collide, files and annotations near Kubernetes' size limits, placeholders that do
not resolve. Each is created on the real API server with the operator running, and
each must be refused at admission with the field named, or end ``Ready``, or end
``Stalled`` with a reason and a message at its current generation: never no status,
never a traceback. A Workload beside them keeps its Deployment untouched throughout.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes.client.exceptions import ApiException

from tests.e2e.conftest import OperatorProcess
from tests.kubeutil import Berth, wait_for, workload_body

EXAMPLES = 200
GOOD_IMAGE = "registry.acme.dev/app:1.0"

# Text as users paste it: letters from every plane, controls, and the characters that
# mean something to Berth or to YAML.
tricky_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(["$", "{", "}", "=", "\t", "\n", " ", ":", "#", "\U0001f680"]),
    ),
    max_size=40,
)
placeholder = st.sampled_from(
    [
        "${metadata.name}",
        "${metadata.annotations.team}",
        "${resources.db.host}",
        "${resources.nope.host}",
        "${",
        "$${literal}",
        "${metadata.}",
    ]
)
value = st.one_of(tricky_text, placeholder, st.builds("{}{}".format, tricky_text, placeholder))


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Five draws in six from ``good``: most generated Workloads should get far enough
    to be rendered and applied, with a hostile part here and there."""
    return st.integers(0, 5).flatmap(lambda n: bad if n == 0 else good)


variable_name = mostly(st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,20}\Z"), tricky_text.filter(bool))
edge_int = st.sampled_from([-1, 0, 1, 2, 3, 4, 80, 65535, 65536, 2**31 - 1, 2**31, 2**53])
image = mostly(
    st.just(GOOD_IMAGE),
    st.sampled_from(
        [
            "docker.example/other:1",
            f" {GOOD_IMAGE}",
            f"{GOOD_IMAGE}\n",
            "",
            ".",
            "registry.acme.dev/Upper Case:1",
        ]
    ),
)
container_name = mostly(st.sampled_from(["main", "side", "a"]), st.from_regex(r"\A\w{1,8}\Z"))
file_content = st.one_of(
    tricky_text,
    st.sampled_from([512 * 1024, 1100 * 1024]).map(lambda n: "x" * n),
)


@st.composite
def workload_specs(draw: st.DrawFn) -> dict[str, Any]:
    containers: dict[str, Any] = {}
    for name in draw(st.lists(container_name, min_size=1, max_size=2, unique=True)):
        spec: dict[str, Any] = {"image": draw(image)}
        if draw(st.booleans()):
            spec["variables"] = draw(st.dictionaries(variable_name, value, max_size=4))
        if draw(st.integers(0, 4)) == 0:
            spec["files"] = {"/etc/app/conf.txt": {"content": draw(file_content)}}
        containers[name] = spec
    spec = {"containers": containers}
    if draw(st.booleans()):
        spec["replicas"] = draw(mostly(st.integers(0, 2), edge_int))
    if draw(st.booleans()):
        ports = draw(
            st.dictionaries(
                mostly(st.sampled_from(["web", "http"]), st.just("Bad_Port")),
                mostly(st.sampled_from([80, 8080, 443]), edge_int),
            )
        )
        spec["service"] = {"ports": {k: {"port": v} for k, v in ports.items()}}
    if draw(st.integers(0, 3)) == 0:
        spec["metadata"] = {
            "annotations": draw(
                st.dictionaries(
                    mostly(st.sampled_from(["team", "acme.dev/note"]), st.just("bad key")),
                    st.one_of(tricky_text, st.just("y" * (300 * 1024))),
                    max_size=2,
                )
            )
        }
    if draw(st.integers(0, 3)) == 0:
        spec["resources"] = {"db": {"type": draw(st.sampled_from(["postgres", "nothing"]))}}
    return spec


def settled(body: dict[str, Any]) -> str | None:
    """'Ready' or 'Stalled:<reason>' once the status answers the current generation."""
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"]["generation"]:
        return None
    conditions = {c["type"]: c for c in status.get("conditions") or []}
    ready, stalled = conditions.get("Ready"), conditions.get("Stalled")
    if ready and ready["status"] == "True":
        return "Ready"
    if stalled and stalled["status"] == "True" and stalled["reason"] and stalled["message"]:
        if stalled["reason"] == "ChildRejected":  # what render could have caught: show it
            print(f"\n{body['metadata']['name']}: {stalled['message'][:300]}")
        return f"Stalled:{stalled['reason']}"
    return None


def test_every_generated_workload_ends_with_an_answer(
    berth: Berth, namespace: str, environment: str, operator: OperatorProcess
) -> None:
    berth.create_workload(namespace, workload_body("bystander"))
    berth.wait_condition(namespace, "bystander", "Ready", "True", timeout=90)
    bystander_version = berth.apps.read_namespaced_deployment(
        "bystander", namespace
    ).metadata.resource_version
    log_start = operator.log_path.stat().st_size

    counter = itertools.count()
    created: list[str] = []
    refused: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(spec=workload_specs())
    def create(spec: dict[str, Any]) -> None:
        name = f"gen-{next(counter)}"
        answer: ApiException | None = None
        try:
            berth.create_workload(namespace, workload_body(name, **spec))
        except ApiException as err:
            answer = err
        if answer is None:
            created.append(name)
            return
        refused.append(name)
        if answer.status == 500 and any(
            too_large in str(answer.body)
            for too_large in ("request is too large", "ResourceExhausted")
        ):
            # Files that pass one by one but together outgrow what etcd stores: the API
            # server's own answer, at once, to whoever applied it (etcd's request limit,
            # or past 2 MiB its gRPC message limit).
            return
        if answer.status == 403:
            # Refused by the Environment's policy at admission: the rule, in Berth's words.
            assert "'berth-policy-deny'" in str(answer.body), answer.body
            assert "(policy." in str(answer.body), answer.body
            return
        # Refused at admission: a 422 that names the field at fault.
        assert answer.status == 422, (answer.status, answer.body, spec)
        assert "spec." in str(answer.body), answer.body

    create()
    assert created, "every generated spec was refused: the generator is too hostile"

    answers: dict[str, str] = {}

    def all_settled() -> bool:
        items = berth.custom.list_namespaced_custom_object(
            "berth.dev", "v1alpha1", namespace, "workloads"
        )["items"]
        for item in items:
            answer = settled(item)
            if answer is not None:
                answers[item["metadata"]["name"]] = answer
        return all(name in answers for name in created)

    wait_for(
        all_settled,
        240,
        "every created Workload to end Ready or Stalled at its generation",
        interval=2,
    )
    assert (
        berth.apps.read_namespaced_deployment("bystander", namespace).metadata.resource_version
        == bystander_version
    )
    with operator.log_path.open("rb") as log:
        log.seek(log_start)
        new_lines = log.read().decode(errors="replace")
    assert "Traceback" not in new_lines
    outcomes: dict[str, int] = {}
    for answer in answers.values():
        outcomes[answer] = outcomes.get(answer, 0) + 1
    print(
        f"\n{len(refused)} refused at admission; outcomes of the rest: {sorted(outcomes.items())}"
    )
    assert outcomes.get("Ready", 0) >= 1
