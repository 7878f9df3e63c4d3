"""The Workload model (berth.api.workload, berth.api.container): parsing, normalisation,
round trips."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from berth.api import ReplicaStatus, Workload
from tests.unit.builders import container, workload


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return str(exc.value)


# -- Workload ------------------------------------------------------------------------------


def test_design_example_parses() -> None:
    wl = workload(
        containers={
            "main": container(
                variables={
                    "DB_HOST": "${resources.db.host}",
                    "DB_PASSWORD": "${resources.db.password}",
                    "GREETING": "Hello from ${metadata.name}",
                }
            )
        },
        service={"ports": {"web": {"port": 80, "targetPort": 8080}}},
        resources={"db": {"type": "postgres"}, "web": {"type": "route", "params": {"path": "/"}}},
    )
    assert wl.name == "checkout"
    assert wl.metadata.namespace == "team-a-dev"
    main = wl.spec.containers["main"]
    assert main.variables is not None
    assert main.variables["DB_HOST"] == "${resources.db.host}"
    assert wl.spec.service is not None
    assert wl.spec.service.ports is not None
    web = wl.spec.service.ports["web"]
    assert (web.port, web.target_port, web.protocol) == (80, 8080, "TCP")
    assert wl.spec.resources is not None
    assert wl.spec.resources["web"].params == {"path": "/"}


def test_files_list_and_map_forms_normalise_to_the_same_map() -> None:
    as_list = workload(
        containers={
            "main": container(
                files=[
                    {"target": "/etc/app.conf", "content": "a=1", "mode": "0600"},
                    {"target": "/etc/logo.png", "binaryContent": "aGk="},
                ]
            )
        }
    )
    as_map = workload(
        containers={
            "main": container(
                files={
                    "/etc/app.conf": {"content": "a=1", "mode": "0600"},
                    "/etc/logo.png": {"binaryContent": "aGk="},
                }
            )
        }
    )
    assert as_list == as_map
    files = as_list.spec.containers["main"].files
    assert files is not None
    assert set(files) == {"/etc/app.conf", "/etc/logo.png"}
    assert files["/etc/app.conf"].content == "a=1"
    assert files["/etc/app.conf"].mode == "0600"
    assert files["/etc/logo.png"].binary_content == "aGk="
    dumped = as_list.model_dump(mode="json", exclude_none=True)
    assert dumped["spec"]["containers"]["main"]["files"] == {
        "/etc/app.conf": {"content": "a=1", "mode": "0600"},
        "/etc/logo.png": {"binaryContent": "aGk="},
    }


def test_volumes_list_and_map_forms_normalise_to_the_same_map() -> None:
    as_list = workload(
        containers={
            "main": container(
                volumes=[{"target": "/data", "source": "${resources.vol}", "readOnly": True}]
            )
        }
    )
    as_map = workload(
        containers={
            "main": container(volumes={"/data": {"source": "${resources.vol}", "readOnly": True}})
        }
    )
    assert as_list == as_map
    volumes = as_map.spec.containers["main"].volumes
    assert volumes is not None
    assert volumes["/data"].source == "${resources.vol}"
    assert volumes["/data"].read_only is True
    assert volumes["/data"].path is None


def test_duplicate_file_targets_in_list_form_are_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(
            containers={
                "main": container(
                    files=[
                        {"target": "/etc/a", "content": "1"},
                        {"target": "/etc/a", "content": "2"},
                    ]
                )
            }
        )
    assert "files: duplicate target '/etc/a'" in errors_of(exc)


def test_list_item_without_target_is_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(containers={"main": container(volumes=[{"source": "${resources.v}"}])})
    assert "volumes[0] needs a non-empty string target" in errors_of(exc)


@pytest.mark.parametrize(
    ("file", "found"),
    [
        ({}, "none"),
        ({"content": "a", "source": "a.conf"}, "content, source"),
        ({"content": "a", "binaryContent": "aGk="}, "content, binaryContent"),
    ],
)
def test_a_file_needs_exactly_one_content_kind(file: dict[str, Any], found: str) -> None:
    with pytest.raises(ValidationError) as exc:
        workload(containers={"main": container(files={"/etc/a": file})})
    assert (
        f"a file needs exactly one of content, binaryContent, source (found: {found})"
        in errors_of(exc)
    )


def test_binary_content_must_be_base64() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(containers={"main": container(files={"/etc/a": {"binaryContent": "not base64!"}})})
    assert "binaryContent is not valid standard base64" in errors_of(exc)


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("etc/a", "must be an absolute path"),
        ("/etc/../a", "must not contain '..'"),
        ("/etc/a:b", "must not contain ':'"),
    ],
)
def test_file_targets_must_be_clean_absolute_paths(target: str, problem: str) -> None:
    with pytest.raises(ValidationError) as exc:
        workload(containers={"main": container(files={target: {"content": "x"}})})
    assert f"file target {target!r} {problem}" in errors_of(exc)


def test_file_and_volume_cannot_share_a_target() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(
            containers={
                "main": container(
                    files={"/data": {"content": "x"}},
                    volumes={"/data": {"source": "${resources.v}"}},
                )
            }
        )
    assert "targets used by both a file and a volume: /data" in errors_of(exc)


def test_file_mode_must_be_octal() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(containers={"main": container(files={"/a": {"content": "x", "mode": "0999"}})})
    assert "String should match pattern" in errors_of(exc)
    assert "mode" in errors_of(exc)


@pytest.mark.parametrize("name", ["Main", "main_1", "-main", "main-", "a" * 64])
def test_container_names_must_be_dns_labels(name: str) -> None:
    with pytest.raises(ValidationError) as exc:
        workload(containers={name: container()})
    text = errors_of(exc)
    assert "containers" in text
    assert "[key]" in text


def test_at_least_one_container() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(containers={})
    assert "containers" in errors_of(exc)
    assert "at least 1 item" in errors_of(exc)


def test_image_is_required_and_non_empty() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(containers={"main": {"image": ""}})
    assert "image" in errors_of(exc)
    with pytest.raises(ValidationError) as exc:
        workload(containers={"main": {"command": ["x"]}})
    assert "image\n  Field required" in errors_of(exc)


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_service_ports_must_be_in_range(port: int) -> None:
    with pytest.raises(ValidationError) as exc:
        workload(service={"ports": {"web": {"port": port}}})
    assert "service.ports.web.port" in errors_of(exc)


@pytest.mark.parametrize("name", ["80", "a--b", "-web", "web-", "Web", "a" * 16])
def test_service_port_names_follow_the_kubernetes_rule(name: str) -> None:
    with pytest.raises(ValidationError):
        workload(service={"ports": {name: {"port": 80}}})


@pytest.mark.parametrize("name", ["web", "http-2", "a", "1a", "x" * 15])
def test_valid_service_port_names(name: str) -> None:
    wl = workload(service={"ports": {name: {"port": 80}}})
    assert wl.spec.service is not None
    assert wl.spec.service.ports is not None
    assert name in wl.spec.service.ports


def test_service_port_protocol_defaults_to_tcp_and_is_checked() -> None:
    wl = workload(service={"ports": {"dns": {"port": 53, "protocol": "UDP"}, "web": {"port": 80}}})
    assert wl.spec.service is not None
    assert wl.spec.service.ports is not None
    assert wl.spec.service.ports["web"].protocol == "TCP"
    assert wl.spec.service.ports["dns"].protocol == "UDP"
    with pytest.raises(ValidationError) as exc:
        workload(service={"ports": {"web": {"port": 80, "protocol": "HTTP"}}})
    assert "'TCP', 'UDP' or 'SCTP'" in errors_of(exc)


def test_resource_class_is_aliased() -> None:
    wl = workload(resources={"db": {"type": "postgres", "class": "large", "id": "main.db"}})
    assert wl.spec.resources is not None
    db = wl.spec.resources["db"]
    assert db.class_ == "large"
    assert db.id == "main.db"
    dumped = wl.model_dump(mode="json", exclude_none=True)
    assert dumped["spec"]["resources"]["db"] == {
        "type": "postgres",
        "class": "large",
        "id": "main.db",
    }


def test_resource_names_must_be_dns_labels() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(resources={"My_DB": {"type": "postgres"}})
    assert "resources" in errors_of(exc)


def test_variable_names_reserved_for_berth_are_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(containers={"main": container(variables={"BERTH_SECRET_X": "1"})})
    assert "reserved for Berth: BERTH_SECRET_X" in errors_of(exc)


def test_variable_values_must_be_strings() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(containers={"main": container(variables={"PORT": 8080})})
    assert "variables.PORT" in errors_of(exc)


@pytest.mark.parametrize("value", ["250m", "0.5", "64Mi", "1Gi", 2, "1e3"])
def test_quantities_are_accepted(value: str | int) -> None:
    wl = workload(containers={"main": container(resources={"limits": {"cpu": value}})})
    resources = wl.spec.containers["main"].resources
    assert resources is not None
    assert resources.limits is not None
    assert resources.limits["cpu"] == value


@pytest.mark.parametrize("value", ["lots", "1 Gi", "1GB", 0.5])
def test_bad_quantities_are_rejected(value: object) -> None:
    with pytest.raises(ValidationError):
        workload(containers={"main": container(resources={"limits": {"memory": value}})})


def test_probe_needs_a_handler() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(containers={"main": container(livenessProbe={})})
    assert "a probe needs httpGet or exec" in errors_of(exc)


def test_probe_shapes() -> None:
    wl = workload(
        containers={
            "main": container(
                livenessProbe={
                    "httpGet": {
                        "path": "/healthz",
                        "port": 8080,
                        "scheme": "HTTPS",
                        "httpHeaders": [{"name": "X-Probe", "value": "1"}],
                    }
                },
                readinessProbe={"exec": {"command": ["cat", "/tmp/ready"]}},
            )
        }
    )
    main = wl.spec.containers["main"]
    assert main.liveness_probe is not None
    assert main.liveness_probe.http_get is not None
    assert main.liveness_probe.http_get.port == 8080
    assert main.readiness_probe is not None
    assert main.readiness_probe.exec is not None
    assert main.readiness_probe.exec.command == ["cat", "/tmp/ready"]


def test_replicas_must_not_be_negative() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(replicas=-1)
    assert "replicas" in errors_of(exc)
    assert workload(replicas=0).spec.replicas == 0


def test_unknown_spec_fields_are_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        workload(containers={"main": container(variabels={"A": "1"})})
    assert "variabels" in errors_of(exc)
    assert "Extra inputs are not permitted" in errors_of(exc)


def test_score_metadata_keeps_extra_keys() -> None:
    wl = workload(metadata={"annotations": {"example.com/owner": "a"}, "team": {"name": "a"}})
    assert wl.spec.metadata is not None
    assert wl.spec.metadata.annotations == {"example.com/owner": "a"}
    assert wl.spec.metadata.model_extra == {"team": {"name": "a"}}
    dumped = wl.model_dump(mode="json", exclude_none=True)
    assert dumped["spec"]["metadata"] == {
        "annotations": {"example.com/owner": "a"},
        "team": {"name": "a"},
    }


def test_bad_annotation_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        workload(metadata={"annotations": {"bad key": "x"}})


SERVER_WORKLOAD: dict[str, Any] = {
    "apiVersion": "berth.dev/v1alpha1",
    "kind": "Workload",
    "metadata": {
        "name": "checkout",
        "namespace": "team-a-dev",
        "uid": "0f1e2d3c",
        "generation": 3,
        "resourceVersion": "4711",
        "creationTimestamp": "2025-01-01T00:00:00Z",
        "labels": {"team": "a"},
        "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
    },
    "spec": {
        "metadata": {"annotations": {"example.com/owner": "a"}, "tier": "web"},
        "containers": {
            "main": {
                "image": "registry.acme.dev/checkout:1.4.2",
                "args": ["--port", "8080"],
                "variables": {"DB_HOST": "${resources.db.host}"},
                "files": {"/etc/app.conf": {"content": "a=1", "noExpand": True}},
                "volumes": {"/data": {"source": "${resources.vol}", "path": "sub"}},
                "resources": {"limits": {"cpu": 1, "memory": "128Mi"}},
                "readinessProbe": {"httpGet": {"path": "/ready"}},
            }
        },
        "service": {"ports": {"web": {"port": 80, "targetPort": 8080, "protocol": "TCP"}}},
        "resources": {
            "db": {"type": "postgres", "class": "small", "params": {"size": 3, "x": [1, "a"]}},
            "vol": {"type": "volume"},
        },
        "environment": "team-a-dev",
        "replicas": 2,
    },
    "status": {
        "observedGeneration": 3,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Available",
                "message": "2 of 2 replicas available",
                "lastTransitionTime": "2025-01-01T00:01:00Z",
                "observedGeneration": 3,
            }
        ],
        "replicas": {"desired": 2, "ready": 2, "available": 2, "summary": "2/2"},
        "environment": "team-a-dev",
        "endpoint": "checkout.team-a-dev.svc.cluster.local:80",
        "resources": [{"name": "db", "type": "postgres", "state": "Ready", "outputs": ["host"]}],
        "managedObjects": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"}],
        "kopf": {"progress": {}},
    },
}


def test_workload_round_trips_the_wire_form() -> None:
    wl = Workload.model_validate(copy.deepcopy(SERVER_WORKLOAD))
    assert wl.model_dump(mode="json", by_alias=True, exclude_none=True) == SERVER_WORKLOAD
    # the default dump is the wire form too
    assert wl.model_dump(mode="json", exclude_none=True) == SERVER_WORKLOAD


def test_normalised_dump_is_a_fixed_point() -> None:
    wl = workload(
        containers={
            "main": container(files=[{"target": "/a", "content": "x"}]),
        },
        service={"ports": {"web": {"port": 80}}},
    )
    once = wl.model_dump(mode="json", exclude_none=True)
    assert once["spec"]["service"]["ports"]["web"] == {"port": 80, "protocol": "TCP"}
    again = Workload.model_validate(once).model_dump(mode="json", exclude_none=True)
    assert again == once


def test_models_accept_snake_case_names_too() -> None:
    wl = workload(containers={"main": container(livenessProbe={"exec": {"command": ["true"]}})})
    same = Workload.model_validate(
        {
            "metadata": {"name": "checkout", "namespace": "team-a-dev"},
            "spec": {
                "containers": {
                    "main": {
                        "image": "registry.acme.dev/checkout:1.4.2",
                        "liveness_probe": {"exec": {"command": ["true"]}},
                    }
                }
            },
        }
    )
    assert same == wl


# -- Status --------------------------------------------------------------------------------


def test_replica_status_summary() -> None:
    replicas = ReplicaStatus.of(desired=3, ready=2, available=1)
    assert replicas.model_dump(exclude_none=True) == {
        "desired": 3,
        "ready": 2,
        "available": 1,
        "summary": "2/3",
    }
