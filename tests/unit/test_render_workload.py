"""render_workload: Deployment, Service, files ConfigMap, volumes, defaults, errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from berth.names import CHECKSUM_ANNOTATION
from berth.reasons import Reason
from berth.render import (
    RenderedWorkload,
    RenderError,
    SecretRef,
    render_workload,
)
from berth.render.files import claim_volume_name, file_keys
from berth.render.outputs import Outputs
from tests.unit.builders import NAMESPACE, container, environment, workload

LABELS = {
    "app.kubernetes.io/name": "checkout",
    "app.kubernetes.io/managed-by": "berth",
    "berth.dev/workload": "checkout",
    "backstage.io/kubernetes-id": "checkout",
    # the namespace's bucket (render.labels.shard_bucket): what sharded watches select by
    "berth.dev/shard-bucket": "51",
}
OUTPUTS: Outputs = {
    "db": {"host": "db.internal", "password": SecretRef("db-conn", "password")},
    "data": {"claimName": "checkout-data"},
}
RESOURCES = {"db": {"type": "postgres"}, "data": {"type": "volume"}}


def render(outputs: Outputs = OUTPUTS, env: dict[str, Any] | None = None, **spec: Any) -> Any:
    spec.setdefault("resources", RESOURCES)
    return render_workload(workload(**spec), environment(**(env or {})), outputs)


def manifest(rendered: RenderedWorkload, kind: str) -> dict[str, Any]:
    (found,) = [m for m in rendered.manifests if m["kind"] == kind]
    return found


def pod_checksum(rendered: RenderedWorkload) -> str:
    template = manifest(rendered, "Deployment")["spec"]["template"]
    value: str = template["metadata"]["annotations"][CHECKSUM_ANNOTATION]
    return value


def secret_refs(rendered: RenderedWorkload) -> set[tuple[str, str]]:
    """(Secret, key) of every secretKeyRef the Pods read."""
    return {
        (ref["name"], ref["key"])
        for c in pod_spec(rendered)["containers"]
        for var in c.get("env", [])
        if (ref := var.get("valueFrom", {}).get("secretKeyRef")) is not None
    }


def pod_spec(rendered: RenderedWorkload) -> dict[str, Any]:
    spec: dict[str, Any] = manifest(rendered, "Deployment")["spec"]["template"]["spec"]
    return spec


def main_container(rendered: RenderedWorkload) -> dict[str, Any]:
    main: dict[str, Any] = pod_spec(rendered)["containers"][0]
    return main


def render_error(outputs: Outputs = OUTPUTS, env: dict[str, Any] | None = None, **spec: Any) -> Any:
    with pytest.raises(RenderError) as exc:
        render(outputs, env, **spec)
    return exc.value


# -- Deployment ----------------------------------------------------------------------------


def test_minimal_workload_renders_a_deployment_only() -> None:
    rendered = render()
    assert [m["kind"] for m in rendered.manifests] == ["Deployment"]
    deployment = rendered.manifests[0]
    assert deployment["apiVersion"] == "apps/v1"
    assert deployment["metadata"] == {"name": "checkout", "namespace": NAMESPACE, "labels": LABELS}
    assert "ownerReferences" not in deployment["metadata"]
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["revisionHistoryLimit"] == 3
    assert spec["selector"] == {"matchLabels": {"berth.dev/workload": "checkout"}}
    assert spec["template"]["metadata"]["labels"] == LABELS
    assert spec["template"]["spec"]["automountServiceAccountToken"] is False
    assert spec["template"]["spec"]["containers"] == [
        {
            "name": "main",
            "image": "registry.acme.dev/checkout:1.4.2",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "runAsNonRoot": True,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        }
    ]
    assert rendered.endpoint is None
    assert [
        (m["apiVersion"], m["kind"], m["metadata"]["name"], m["metadata"]["namespace"])
        for m in rendered.manifests
    ] == [("apps/v1", "Deployment", "checkout", NAMESPACE)]


def test_pod_security_restricted() -> None:
    rendered = render(containers={"b": container(), "a": container()})
    spec = pod_spec(rendered)
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for item in spec["containers"]:
        context = item["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["runAsNonRoot"] is True
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert "privileged" not in context
        assert "runAsUser" not in context
    assert "hostNetwork" not in spec
    assert spec["enableServiceLinks"] is False


def test_containers_are_in_name_order() -> None:
    rendered = render(
        containers={"web": container(image="registry.acme.dev/web:1"), "api": container()}
    )
    assert [c["name"] for c in pod_spec(rendered)["containers"]] == ["api", "web"]


@pytest.mark.parametrize(
    ("replicas", "defaults", "expected"),
    [(None, None, 1), (None, {"replicas": 2}, 2), (3, {"replicas": 2}, 3), (0, None, 0)],
)
def test_replicas(replicas: int | None, defaults: dict[str, Any] | None, expected: int) -> None:
    spec: dict[str, Any] = {} if replicas is None else {"replicas": replicas}
    rendered = render(env={"defaults": defaults} if defaults else None, **spec)
    assert manifest(rendered, "Deployment")["spec"]["replicas"] == expected
    assert rendered.replicas == expected


def test_score_annotations_go_on_the_pod_template() -> None:
    rendered = render(metadata={"annotations": {"example.com/owner": "team-a"}})
    deployment = manifest(rendered, "Deployment")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["example.com/owner"] == "team-a"
    assert len(annotations[CHECKSUM_ANNOTATION]) == 64
    assert "annotations" not in deployment["metadata"]


# -- resources and defaults ----------------------------------------------------------------

DEFAULTS = {
    "containerResources": {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"memory": "256Mi"},
    }
}


def test_environment_defaults_fill_what_the_container_leaves_out() -> None:
    rendered = render(
        env={"defaults": DEFAULTS},
        containers={"main": container(resources={"requests": {"cpu": 1}})},
    )
    assert main_container(rendered)["resources"] == {
        "requests": {"cpu": "1", "memory": "64Mi"},
        "limits": {"memory": "256Mi"},
    }


def test_no_resources_without_defaults_or_own_values() -> None:
    assert "resources" not in main_container(render())


def test_defaulted_side_gives_way_to_explicit_values() -> None:
    rendered = render(
        env={"defaults": DEFAULTS},
        containers={
            "main": container(resources={"limits": {"memory": "32Mi"}}),
            "big": container(resources={"requests": {"memory": "1Gi"}}),
        },
    )
    by_name = {c["name"]: c["resources"] for c in pod_spec(rendered)["containers"]}
    # a defaulted request above the container's own limit is lowered to the limit
    assert by_name["main"] == {
        "requests": {"cpu": "50m", "memory": "32Mi"},
        "limits": {"memory": "32Mi"},
    }
    # a defaulted limit below the container's own request is raised to the request
    assert by_name["big"] == {
        "requests": {"cpu": "50m", "memory": "1Gi"},
        "limits": {"memory": "1Gi"},
    }


def test_own_request_above_own_limit_is_an_error() -> None:
    error = render_error(
        containers={
            "main": container(resources={"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}})
        }
    )
    assert error.reason == Reason.INVALID_RESOURCES
    assert error.message == "container 'main': requests.cpu 2 is more than limits.cpu 500m"


# -- probes --------------------------------------------------------------------------------


def test_http_probe_port_defaults_to_the_first_service_target_port() -> None:
    rendered = render(
        service={"ports": {"web": {"port": 80, "targetPort": 8080}, "admin": {"port": 9000}}},
        containers={
            "main": container(
                livenessProbe={"httpGet": {"path": "/healthz"}},
                readinessProbe={
                    "httpGet": {
                        "path": "/ready",
                        "port": 8081,
                        "scheme": "HTTPS",
                        "host": "localhost",
                        "httpHeaders": [{"name": "X-Probe", "value": "1"}],
                    }
                },
            )
        },
    )
    main = main_container(rendered)
    # "admin" sorts before "web", and has no targetPort: its port is used
    assert main["livenessProbe"] == {"httpGet": {"path": "/healthz", "port": 9000}}
    assert main["readinessProbe"] == {
        "httpGet": {
            "path": "/ready",
            "port": 8081,
            "scheme": "HTTPS",
            "host": "localhost",
            "httpHeaders": [{"name": "X-Probe", "value": "1"}],
        }
    }


def test_exec_probe_is_preferred() -> None:
    rendered = render(
        containers={
            "main": container(
                livenessProbe={
                    "exec": {"command": ["/bin/check"]},
                    "httpGet": {"path": "/", "port": 1},
                }
            )
        }
    )
    assert main_container(rendered)["livenessProbe"] == {"exec": {"command": ["/bin/check"]}}


def test_http_probe_without_any_port_is_an_error() -> None:
    error = render_error(containers={"main": container(readinessProbe={"httpGet": {"path": "/"}})})
    assert error.reason == Reason.INVALID_PROBE
    assert error.message == (
        "container 'main' readinessProbe: httpGet has no port and the workload has no service "
        "ports to take one from; set httpGet.port"
    )


# -- Service -------------------------------------------------------------------------------


def test_service_with_sorted_ports_and_defaults() -> None:
    rendered = render(
        service={
            "ports": {
                "web": {"port": 80, "targetPort": 8080},
                "dns": {"port": 53, "protocol": "UDP"},
            }
        }
    )
    service = manifest(rendered, "Service")
    assert service["apiVersion"] == "v1"
    assert service["metadata"] == {"name": "checkout", "namespace": NAMESPACE, "labels": LABELS}
    assert service["spec"] == {
        "type": "ClusterIP",
        "selector": {"berth.dev/workload": "checkout"},
        "ports": [
            {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
            {"name": "web", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        ],
    }
    assert manifest(rendered, "Service")["metadata"]["name"] == "checkout"
    assert rendered.endpoint == f"checkout.{NAMESPACE}.svc.cluster.local:53"
    assert [m["kind"] for m in rendered.manifests] == ["Deployment", "Service"]


def test_endpoint_uses_the_cluster_domain() -> None:
    rendered = render_workload(
        workload(service={"ports": {"web": {"port": 80}}}),
        environment(),
        {},
        cluster_domain="k8s.example",
    )
    assert rendered.endpoint == f"checkout.{NAMESPACE}.svc.k8s.example:80"


def test_no_service_without_ports() -> None:
    rendered = render(service={})
    assert [m["kind"] for m in rendered.manifests] == ["Deployment"]


# -- files ---------------------------------------------------------------------------------


def test_files_become_a_configmap_mounted_with_subpath() -> None:
    logo = base64.b64encode(b"\x89PNG").decode()
    rendered = render(
        containers={
            "main": container(
                files={
                    "/etc/app/app.conf": {
                        "content": "host=${resources.db.host}\nname=${metadata.name}\n",
                        "mode": "0600",
                    },
                    "/etc/app/raw.tpl": {"content": "${keep.this}", "noExpand": True},
                    "/srv/logo.png": {"binaryContent": logo},
                }
            )
        }
    )
    assert [m["kind"] for m in rendered.manifests] == ["ConfigMap", "Deployment"]
    configmap = manifest(rendered, "ConfigMap")
    assert configmap["metadata"] == {
        "name": "checkout-files",
        "namespace": NAMESPACE,
        "labels": LABELS,
    }
    assert configmap["data"] == {
        "main_etc_app_app.conf": "host=db.internal\nname=checkout\n",
        "main_etc_app_raw.tpl": "${keep.this}",
    }
    assert configmap["binaryData"] == {"main_srv_logo.png": logo}
    assert pod_spec(rendered)["volumes"] == [
        {
            "name": "files",
            "configMap": {
                "name": "checkout-files",
                "defaultMode": 0o644,
                "items": [
                    {"key": "main_etc_app_app.conf", "path": "main_etc_app_app.conf", "mode": 384},
                    {"key": "main_etc_app_raw.tpl", "path": "main_etc_app_raw.tpl"},
                    {"key": "main_srv_logo.png", "path": "main_srv_logo.png"},
                ],
            },
        }
    ]
    assert main_container(rendered)["volumeMounts"] == [
        {
            "name": "files",
            "mountPath": "/etc/app/app.conf",
            "subPath": "main_etc_app_app.conf",
            "readOnly": True,
        },
        {
            "name": "files",
            "mountPath": "/etc/app/raw.tpl",
            "subPath": "main_etc_app_raw.tpl",
            "readOnly": True,
        },
        {
            "name": "files",
            "mountPath": "/srv/logo.png",
            "subPath": "main_srv_logo.png",
            "readOnly": True,
        },
    ]
    first = rendered.manifests[0]
    assert (first["apiVersion"], first["kind"]) == ("v1", "ConfigMap")
    assert first["metadata"]["name"] == "checkout-files"
    assert first["metadata"]["namespace"] == NAMESPACE


def test_same_target_in_two_containers_gets_two_keys() -> None:
    rendered = render(
        containers={
            "a": container(files={"/etc/x": {"content": "a"}}),
            "b": container(files={"/etc/x": {"content": "b"}}),
        }
    )
    assert manifest(rendered, "ConfigMap")["data"] == {"a_etc_x": "a", "b_etc_x": "b"}


def test_file_keys_are_valid_and_unique() -> None:
    keys = file_keys([("main", "/etc/a_b"), ("main", "/etc/a/b"), ("main", "/srv/hello world")])
    assert keys[("main", "/srv/hello world")] == "main_srv_hello_world"
    assert keys[("main", "/etc/a_b")] != keys[("main", "/etc/a/b")]
    assert keys[("main", "/etc/a_b")].startswith("main_etc_a_b-")
    long = file_keys([("main", "/" + "x" * 400)])[("main", "/" + "x" * 400)]
    assert len(long) <= 253
    for key in [*keys.values(), long]:
        assert all(ch.isalnum() or ch in "-._" for ch in key)


def test_a_secret_in_a_file_is_an_error() -> None:
    error = render_error(
        containers={
            "main": container(files={"/etc/db": {"content": "pw=${resources.db.password}"}})
        }
    )
    assert error.reason == Reason.SECRET_IN_FILE
    assert error.message.startswith(
        "container 'main' file '/etc/db': ${resources.db.password} is a secret output of "
        "resource 'db'; secrets cannot go into files yet; pass it as a variable instead"
    )


def test_a_file_source_that_was_not_inlined_is_an_error() -> None:
    error = render_error(containers={"main": container(files={"/etc/a": {"source": "a.conf"}})})
    assert error.reason == Reason.FILE_SOURCE_NOT_INLINED
    assert error.message == (
        "container 'main' file '/etc/a' has source 'a.conf', which only `berth import` can "
        "read; inline the file as content (berth import does this)"
    )


def test_placeholder_errors_in_files_name_the_file() -> None:
    error = render_error(
        containers={"main": container(files={"/etc/a": {"content": "${resources.db.hots}"}})}
    )
    assert error.reason == Reason.UNKNOWN_OUTPUT
    assert error.message.startswith("container 'main' file '/etc/a': ${resources.db.hots}")


# -- checksum ------------------------------------------------------------------------------


def checksum(**spec: Any) -> str:
    value = pod_checksum(render(**spec))
    assert len(value) == 64
    return value


def with_file(content: str, **fields: Any) -> dict[str, Any]:
    return {"main": container(files={"/etc/app.conf": {"content": content}}, **fields)}


def test_checksum_changes_when_file_content_changes() -> None:
    assert checksum(containers=with_file("a=1")) != checksum(containers=with_file("a=2"))


def test_checksum_changes_when_a_substituted_output_changes() -> None:
    spec = {"containers": with_file("host=${resources.db.host}"), "resources": RESOURCES}
    first = render(**spec)
    second = render({**OUTPUTS, "db": {"host": "db2.internal"}}, **spec)
    assert pod_checksum(first) != pod_checksum(second)


def test_checksum_is_stable_otherwise() -> None:
    base = checksum(containers=with_file("a=1"))
    assert checksum(containers=with_file("a=1")) == base
    assert checksum(containers=with_file("a=1"), replicas=3) == base
    assert checksum(containers=with_file("a=1", image="registry.acme.dev/other:2")) == base
    assert checksum(containers=with_file("a=1", variables={"A": "1"})) == base
    assert checksum(containers=with_file("a=1", variables={"A": "2"})) == base


def test_checksum_tracks_the_secrets_referenced() -> None:
    spec = {"containers": {"main": container(variables={"P": "${resources.db.password}"})}}
    first = render(**spec)
    rotated = render({**OUTPUTS, "db": {"password": SecretRef("db-conn-2", "password")}}, **spec)
    assert pod_checksum(first) != pod_checksum(rotated)
    assert secret_refs(first) == {("db-conn", "password")}


# -- volumes -------------------------------------------------------------------------------


def test_volume_mounts_the_claim_of_a_resource() -> None:
    rendered = render(
        containers={
            "main": container(
                volumes={
                    "/data": {"source": "${resources.data}", "readOnly": True, "path": "sub"},
                    "/cache": {"source": "${resources.data}"},
                }
            )
        }
    )
    assert pod_spec(rendered)["volumes"] == [
        {"name": "pvc-data", "persistentVolumeClaim": {"claimName": "checkout-data"}}
    ]
    assert main_container(rendered)["volumeMounts"] == [
        {"name": "pvc-data", "mountPath": "/cache"},
        {"name": "pvc-data", "mountPath": "/data", "subPath": "sub", "readOnly": True},
    ]


def test_volume_of_a_resource_with_an_empty_dir_output_is_an_empty_dir() -> None:
    outputs = {
        **OUTPUTS,
        "scratch": {"emptyDir": ""},
        "shm": {"emptyDir": "Memory", "sizeLimit": "64Mi"},
    }
    rendered = render(
        outputs,
        containers={
            "main": container(
                volumes={
                    "/scratch": {"source": "${resources.scratch}"},
                    "/dev/shm": {"source": "${resources.shm}"},
                }
            )
        },
        resources={"scratch": {"type": "volume"}, "shm": {"type": "tmp-volume"}},
    )
    assert pod_spec(rendered)["volumes"] == [
        {"name": "pvc-scratch", "emptyDir": {}},
        {"name": "pvc-shm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
    ]
    assert main_container(rendered)["volumeMounts"] == [
        {"name": "pvc-shm", "mountPath": "/dev/shm"},
        {"name": "pvc-scratch", "mountPath": "/scratch"},
    ]


def test_claim_volume_names_fit() -> None:
    assert claim_volume_name("data") == "pvc-data"
    long = claim_volume_name("d" * 63)
    assert len(long) <= 63
    assert long != claim_volume_name("d" * 62 + "e")


@pytest.mark.parametrize(
    ("source", "outputs", "reason", "message"),
    [
        (
            "${resources.db}",
            OUTPUTS,
            Reason.UNKNOWN_OUTPUT,
            "container 'main' volume '/data': ${resources.db} has no output 'claimName' or "
            "'emptyDir' (it has outputs: host, password); a volume source must be a resource "
            "that provides a PersistentVolumeClaim or an emptyDir",
        ),
        (
            "${resources.disk}",
            OUTPUTS,
            Reason.UNKNOWN_RESOURCE,
            "container 'main' volume '/data': ${resources.disk} names resource 'disk', which "
            "is not declared in spec.resources (declared: data, db)",
        ),
        (
            "/mnt/host",
            OUTPUTS,
            Reason.INVALID_PLACEHOLDER,
            "container 'main' volume '/data': source '/mnt/host' must be exactly one "
            "${resources.<name>} placeholder naming a volume resource (declare one, e.g. "
            "resources: {data: {type: volume}}, and write source: ${resources.data})",
        ),
        (
            "${resources.data.claimName}",
            OUTPUTS,
            Reason.INVALID_PLACEHOLDER,
            "container 'main' volume '/data': source '${resources.data.claimName}' must name a "
            "resource as ${resources.<name>}",
        ),
        (
            "${resources.data}",
            {"data": {"claimName": SecretRef("s", "k")}},
            Reason.INVALID_OUTPUT,
            "container 'main' volume '/data': output 'claimName' of resource 'data' is a "
            "secret output; a claim name must be a plain output",
        ),
        (
            "${resources.data}",
            {},
            Reason.OUTPUTS_UNAVAILABLE,
            "waiting for the outputs of resource 'data', which is not provisioned or not ready yet",
        ),
    ],
)
def test_volume_errors(source: str, outputs: Outputs, reason: str, message: str) -> None:
    error = render_error(
        outputs, containers={"main": container(volumes={"/data": {"source": source}})}
    )
    assert error.reason == reason
    assert error.message == message


# -- identity and aggregated errors --------------------------------------------------------


def test_namespace_and_environment_must_match() -> None:
    wl = workload(environment="other-env")
    wl.metadata.namespace = "elsewhere"
    with pytest.raises(RenderError) as exc:
        render_workload(wl, environment(), {})
    assert [p.reason for p in exc.value.problems] == [
        Reason.NAMESPACE_MISMATCH,
        Reason.ENVIRONMENT_MISMATCH,
    ]
    assert "Workload is in namespace 'elsewhere', but Environment 'team-a-dev' runs " in (
        exc.value.message
    )


def test_workload_name_must_be_able_to_name_a_service() -> None:
    with pytest.raises(RenderError) as exc:
        render_workload(workload(name="1checkout"), environment(), {})
    assert exc.value.reason == Reason.INVALID_NAME


def test_problems_are_aggregated_policy_first_and_waiting_last() -> None:
    error = render_error(
        {},
        env={"policy": {"allowedRegistries": ["registry.acme.dev/"]}},
        containers={
            "main": container(
                image="docker.io/nginx",
                variables={
                    "A": "${resources.db.host}",
                    "B": "${resources.data.claimName}",
                    "C": "${resources.nope.x}",
                },
            )
        },
    )
    assert [p.reason for p in error.problems] == [
        Reason.IMAGE_NOT_ALLOWED,
        Reason.UNKNOWN_RESOURCE,
        Reason.OUTPUTS_UNAVAILABLE,
    ]
    assert error.reason == Reason.IMAGE_NOT_ALLOWED
    assert error.transient is False
    assert error.message.endswith(
        "; waiting for the outputs of resources 'data', 'db', which are not provisioned or "
        "not ready yet"
    )


def test_only_missing_outputs_is_transient() -> None:
    error = render_error(
        {}, containers={"main": container(variables={"A": "${resources.db.host}"})}
    )
    assert error.reason == Reason.OUTPUTS_UNAVAILABLE
    assert error.transient is True


def test_resources_that_no_placeholder_uses_need_no_outputs() -> None:
    rendered = render({}, resources={"db": {"type": "postgres"}, "web": {"type": "route"}})
    assert [m["kind"] for m in rendered.manifests] == ["Deployment"]


def test_param_cycles_are_input_errors() -> None:
    error = render_error(
        resources={
            "a": {"type": "t", "params": {"x": "${resources.b.y}"}},
            "b": {"type": "t", "params": {"x": "${resources.a.y}"}},
        }
    )
    assert error.reason == Reason.PLACEHOLDER_CYCLE
    assert "a -> b -> a" in error.message


# -- purity and determinism ----------------------------------------------------------------

FULL_SPEC: dict[str, Any] = {
    "metadata": {"annotations": {"b.example.com/x": "1", "a.example.com/y": "2"}},
    "containers": {
        "web": container(
            variables={"Z": "1", "A": "${resources.db.password}", "M": "x${resources.db.password}"},
            files={"/etc/b": {"content": "b"}, "/etc/a": {"content": "${resources.db.host}"}},
            volumes={"/data": {"source": "${resources.data}"}},
            livenessProbe={"httpGet": {"path": "/"}},
        ),
        "api": container(args=["--x", "${metadata.name}"]),
    },
    "service": {"ports": {"web": {"port": 80, "targetPort": 8080}, "api": {"port": 81}}},
    "resources": RESOURCES,
    "replicas": 2,
}


def reverse_dicts(value: Any) -> Any:
    """The same data with every dict's insertion order reversed."""
    if isinstance(value, dict):
        return {key: reverse_dicts(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reverse_dicts(item) for item in value]
    return value


def test_rendering_is_deterministic() -> None:
    env = {"defaults": DEFAULTS}
    first = render(env=env, **FULL_SPEC)
    second = render(env=env, **FULL_SPEC)
    shuffled = render(reverse_dicts(OUTPUTS), env=reverse_dicts(env), **reverse_dicts(FULL_SPEC))
    dumps = [json.dumps(r.manifests, sort_keys=True) for r in (first, second, shuffled)]
    assert dumps[0] == dumps[1] == dumps[2]
    # also in insertion order, not only with sorted keys
    assert json.dumps(first.manifests) == json.dumps(shuffled.manifests)
    assert first == shuffled


def test_rendering_does_not_touch_its_inputs_or_share_objects() -> None:
    wl = workload(**FULL_SPEC)
    env = environment(defaults=DEFAULTS)
    before = (wl.model_dump(), env.model_dump())
    first = render_workload(wl, env, OUTPUTS)
    assert (wl.model_dump(), env.model_dump()) == before
    first.manifests[0]["metadata"]["labels"]["x"] = "y"
    manifest(first, "Deployment")["spec"]["template"]["spec"]["containers"][1]["env"].clear()
    second = render_workload(wl, env, OUTPUTS)
    assert "x" not in second.manifests[0]["metadata"]["labels"]
    assert manifest(second, "Deployment")["spec"]["template"]["spec"]["containers"][1]["env"]
    # labels dicts are not shared between manifests either
    assert (
        second.manifests[0]["metadata"]["labels"] is not second.manifests[1]["metadata"]["labels"]
    )


def test_full_render_keeps_secrets_out() -> None:
    rendered = render(env={"defaults": DEFAULTS}, **FULL_SPEC)
    text = json.dumps(rendered.manifests)
    assert '"secretKeyRef": {"name": "db-conn", "key": "password"}' in text
    assert "SecretRef" not in text


def test_pod_security_baseline_lets_root_images_run() -> None:
    rendered = render_workload(
        workload(containers={"main": container()}),
        environment(policy={"podSecurity": "baseline"}),
        {},
    )
    spec = pod_spec(rendered)
    assert spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert "securityContext" not in spec["containers"][0]
    assert "runAsNonRoot" not in str(spec)


def test_probe_path_and_header_values_expand_placeholders() -> None:
    probe = {
        "httpGet": {
            "path": "/health/${metadata.name}",
            "port": 8080,
            "httpHeaders": [{"name": "X-Db", "value": "${resources.db.host}"}],
        }
    }
    rendered = render(containers={"main": container(livenessProbe=probe)})
    http = pod_spec(rendered)["containers"][0]["livenessProbe"]["httpGet"]
    assert http["path"] == "/health/checkout"
    assert http["httpHeaders"] == [{"name": "X-Db", "value": "db.internal"}]


def test_a_secret_in_a_probe_is_refused() -> None:
    probe = {
        "httpGet": {
            "path": "/",
            "port": 8080,
            "httpHeaders": [{"name": "X-Token", "value": "${resources.db.password}"}],
        }
    }
    with pytest.raises(RenderError) as caught:
        render(containers={"main": container(readinessProbe=probe)})
    assert caught.value.reason == Reason.SECRET_IN_PROBE
    assert "header X-Token" in caught.value.message


def test_a_given_shard_bucket_labels_every_child_and_the_pods() -> None:
    # A preview's namespace is in its base's bucket (Cache.shard_bucket_of), not its own.
    rendered = render_workload(
        workload(
            service={"ports": {"web": {"port": 80}}},
            containers={"main": container(files={"/etc/app.conf": {"content": "x"}})},
        ),
        environment(),
        {},
        shard_bucket=7,
    )
    kinds = [m["kind"] for m in rendered.manifests]
    assert kinds == ["ConfigMap", "Deployment", "Service"]
    for manifest in rendered.manifests:
        assert manifest["metadata"]["labels"]["berth.dev/shard-bucket"] == "7"
    [deployment] = [m for m in rendered.manifests if m["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["metadata"]["labels"]["berth.dev/shard-bucket"] == "7"
    # The selector is untouched: a new bucket rolls the Pods, it never orphans them.
    assert "berth.dev/shard-bucket" not in deployment["spec"]["selector"]["matchLabels"]
