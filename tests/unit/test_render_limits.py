"""What the API server would refuse is caught by render, with the Workload's field named."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from berth.reasons import Reason
from berth.render import RenderError, render_workload
from berth.render.limits import (
    MAX_ANNOTATIONS_BYTES,
    MAX_CONFIGMAP_BYTES,
    check_api_limits,
)
from tests.unit.builders import container, environment, workload


def refused(**spec: Any) -> RenderError:
    with pytest.raises(RenderError) as caught:
        render_workload(workload(**spec), environment(), {})
    return caught.value


def test_files_over_a_configmaps_capacity_are_refused() -> None:
    big = "x" * (MAX_CONFIGMAP_BYTES // 2 + 1)
    files = {"/etc/a.txt": {"content": big}, "/etc/b.txt": {"content": big}}
    error = refused(containers={"main": container(files=files)})
    assert error.reason == Reason.FILES_TOO_LARGE
    assert "1024.0 KiB" in error.message


def test_files_just_within_capacity_render() -> None:
    content = "x" * (MAX_CONFIGMAP_BYTES - 10)
    files = {"/etc/a.txt": {"content": content}}
    rendered = render_workload(
        workload(containers={"main": container(files=files)}), environment(), {}
    )
    config_maps = [m for m in rendered.manifests if m["kind"] == "ConfigMap"]
    assert [list(m["data"].values()) for m in config_maps] == [[content]]
    assert check_api_limits(rendered.manifests) == []


def test_binary_files_count_by_their_decoded_size() -> None:
    blob = base64.b64encode(b"\0" * (MAX_CONFIGMAP_BYTES - 100)).decode()
    manifest = {"kind": "ConfigMap", "binaryData": {"a": blob}}
    assert check_api_limits([manifest]) == []
    manifest["data"] = {"b": "y" * 200}
    assert [p.reason for p in check_api_limits([manifest])] == [Reason.FILES_TOO_LARGE]


def test_pod_annotations_over_the_limit_are_refused() -> None:
    annotations = {"big": "v" * MAX_ANNOTATIONS_BYTES}
    error = refused(metadata={"annotations": annotations})
    assert error.reason == Reason.ANNOTATIONS_TOO_LARGE
    assert "metadata.annotations" in error.message


def test_two_service_ports_with_one_number_are_refused() -> None:
    ports = {"web": {"port": 80}, "http": {"port": 80, "targetPort": 8080}}
    error = refused(service={"ports": ports})
    assert error.reason == Reason.DUPLICATE_PORT
    assert "'http' and 'web' both use port 80/TCP" in error.message


def test_one_number_with_two_protocols_is_fine() -> None:
    ports = {"dns": {"port": 53}, "dns-udp": {"port": 53, "protocol": "UDP"}}
    rendered = render_workload(workload(service={"ports": ports}), environment(), {})
    [service] = [m for m in rendered.manifests if m["kind"] == "Service"]
    assert sorted((p["name"], p["port"], p["protocol"]) for p in service["spec"]["ports"]) == [
        ("dns", 53, "TCP"),
        ("dns-udp", 53, "UDP"),
    ]


@pytest.mark.parametrize("path", ["/abs/data", "../up", "a/../../b"])
def test_volume_paths_must_stay_inside_the_volume(path: str) -> None:
    manifest = {
        "kind": "Deployment",
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "volumeMounts": [
                                {"name": "data", "mountPath": "/data", "subPath": path}
                            ],
                        }
                    ]
                }
            }
        },
    }
    problems = check_api_limits([manifest])
    assert [p.reason for p in problems] == [Reason.INVALID_VOLUME_PATH]
    assert "container 'main' volume '/data'" in problems[0].message


def test_probe_header_names_follow_http() -> None:
    probe = {"httpGet": {"path": "/", "port": 80, "httpHeaders": [{"name": "X_Bad", "value": "1"}]}}
    error = refused(containers={"main": container(readinessProbe=probe)})
    assert error.reason == Reason.INVALID_PROBE
    assert "'X_Bad'" in error.message


def test_variable_names_the_api_server_refuses() -> None:
    manifest = {
        "kind": "Deployment",
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "main", "env": [{"name": "A\tB", "value": ""}]}]}
            }
        },
    }
    assert [p.reason for p in check_api_limits([manifest])] == [Reason.INVALID_VARIABLE_NAME]


def test_astral_characters_are_fine_in_values() -> None:
    rendered = render_workload(
        workload(containers={"main": container(variables={"GREETING": "hello \U0001f600"})}),
        environment(),
        {},
    )
    assert check_api_limits(rendered.manifests) == []
