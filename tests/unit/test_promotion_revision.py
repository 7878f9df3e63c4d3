"""berth.promotion.pinning and .revision: image references, digests, when a revision is
due, where each digest comes from, and the revision object."""

from __future__ import annotations

from typing import Any

import pytest

from berth.api.revision import PinnedImage, WorkloadRevision
from berth.promotion.pinning import digest_of_image_id, parse_reference, pin
from berth.promotion.revision import (
    Origin,
    due,
    from_registry,
    identical,
    needs_registry,
    next_number,
    pinned_template,
    pinned_without_registry,
    revision_manifest,
    revision_name,
    template_hash,
)
from berth.render.pods import ContainerSummary, PodSummary

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
IMAGE = "registry.acme.dev/shop/checkout:1.4"


@pytest.mark.parametrize(
    ("image", "registry", "repository", "tag", "digest"),
    [
        ("registry.acme.dev/shop/checkout:1.4", "registry.acme.dev", "shop/checkout", "1.4", None),
        ("127.0.0.1:5000/app", "127.0.0.1:5000", "app", None, None),
        ("localhost/app:2@" + A, "localhost", "app", "2", A),
        ("nginx:1.27", None, "nginx", "1.27", None),
        ("team/app", None, "team/app", None, None),
        ("r.example:5000/a/b@" + A, "r.example:5000", "a/b", None, A),
    ],
)
def test_references_are_taken_apart(
    image: str, registry: str | None, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(image)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert ref.pinned == (digest is not None)
    assert ref.reference == (digest or tag or "latest")


def test_a_malformed_digest_is_not_pinned() -> None:
    assert not parse_reference("r.example/app@sha256:short").pinned


def test_pinning_keeps_the_tag_and_replaces_a_digest() -> None:
    assert pin(IMAGE, A) == f"{IMAGE}@{A}"
    assert pin(f"{IMAGE}@{B}", A) == f"{IMAGE}@{A}"


@pytest.mark.parametrize(
    ("image_id", "digest"),
    [
        (f"registry.acme.dev/shop/checkout@{A}", A),
        (f"docker-pullable://registry.acme.dev/shop/checkout@{A}", A),
        (A, None),  # a local image id, not a registry digest
        ("", None),
        (None, None),
        ("registry.acme.dev/shop/checkout@sha256:short", None),
    ],
)
def test_the_digest_of_an_image_id(image_id: str | None, digest: str | None) -> None:
    assert digest_of_image_id(image_id) == digest


def body(generation: int = 2, observed: int = 2, ready: str = "True", **status: Any) -> dict:
    return {
        "apiVersion": "berth.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {
            "name": "checkout",
            "namespace": "dev",
            "uid": "u-1",
            "generation": generation,
        },
        "spec": {"containers": {"main": {"image": IMAGE}}},
        "status": {
            "observedGeneration": observed,
            "conditions": [{"type": "Ready", "status": ready}],
            **status,
        },
    }


def test_a_revision_is_due_once_per_ready_generation() -> None:
    assert due(body())
    assert not due(body(ready="False"))
    assert not due(body(observed=1))
    recorded = {"name": "checkout-r1", "number": 1, "workloadGeneration": 2}
    assert not due(body(revision=recorded))
    assert due(body(generation=3, observed=3, revision=recorded))
    deleting = body()
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not due(deleting)


def pod(*containers: ContainerSummary, deleting: bool = False) -> PodSummary:
    return PodSummary(name="p", phase="Running", deleting=deleting, containers=containers)


def running(image_id: str, image: str = IMAGE, name: str = "main") -> ContainerSummary:
    return ContainerSummary(name, ready=True, image=image, image_id=image_id)


def test_a_digest_the_pods_agree_on_pins_the_image() -> None:
    pods = [pod(running(f"r/x@{A}")), pod(running(f"r/x@{A}"))]
    (found,) = pinned_without_registry({"containers": {"main": {"image": IMAGE}}}, pods).values()
    assert found == PinnedImage(
        container="main", image=IMAGE, pinned=f"{IMAGE}@{A}", digest=A, source="Pod"
    )


def test_pods_that_disagree_or_run_another_image_leave_it_to_the_registry() -> None:
    spec = {"containers": {"main": {"image": IMAGE}, "side": {"image": "r.example/side:1"}}}
    pods = [
        pod(running(f"r/x@{A}"), running(f"r/side@{A}", "r.example/side:0", "side")),
        pod(running(f"r/x@{B}")),
        pod(running(f"r/x@{B}"), deleting=True),
    ]
    found = pinned_without_registry(spec, pods)
    assert needs_registry(found) == {"main": IMAGE, "side": "r.example/side:1"}


def test_an_image_the_spec_pins_keeps_its_digest() -> None:
    spec = {"containers": {"main": {"image": f"{IMAGE}@{A}"}}}
    (found,) = pinned_without_registry(spec, [pod(running(f"r/x@{B}"))]).values()
    assert isinstance(found, PinnedImage)
    assert (found.source, found.digest, found.pinned) == ("Spec", A, f"{IMAGE}@{A}")


def test_the_registrys_answer() -> None:
    assert from_registry("main", IMAGE, A, None).source == "Registry"
    unresolved = from_registry("main", IMAGE, None, "registry r answered 404")
    assert (unresolved.source, unresolved.pinned, unresolved.message) == (
        "Unresolved",
        IMAGE,
        "registry r answered 404",
    )


def test_the_template_pins_every_image_and_leaves_the_spec_alone() -> None:
    spec = {"containers": {"main": {"image": IMAGE, "args": ["x"]}}, "replicas": 2}
    images = [from_registry("main", IMAGE, A, None)]
    template = pinned_template(spec, images)
    assert template == {
        "containers": {"main": {"image": f"{IMAGE}@{A}", "args": ["x"]}},
        "replicas": 2,
    }
    assert spec["containers"]["main"]["image"] == IMAGE


def test_the_hash_ignores_the_environment_and_key_order() -> None:
    one = {"containers": {"main": {"image": IMAGE}}, "environment": "dev", "replicas": 1}
    two = {"replicas": 1, "containers": {"main": {"image": IMAGE}}, "environment": "prod"}
    assert template_hash(one) == template_hash(two)
    assert template_hash(one) != template_hash({**one, "replicas": 2})


def revision(number: int, digest: str = "sha256:" + "0" * 64) -> dict:
    return {
        "metadata": {"name": revision_name("checkout", number)},
        "spec": {"revision": number, "hash": digest},
    }


def test_numbers_count_up_past_anything_remembered() -> None:
    assert next_number([], None) == 1
    assert next_number([revision(2), revision(5)], None) == 6
    status = {"revision": {"number": 7}, "history": [{"number": 9}]}
    assert next_number([revision(2)], status) == 10


def test_an_identical_template_finds_the_newest_revision_with_its_hash() -> None:
    revisions = [revision(1, A), revision(2, B), revision(3, A)]
    found = identical(revisions, A)
    assert found is not None
    assert found["spec"]["revision"] == 3
    assert identical(revisions, "sha256:" + "c" * 64) is None


def test_the_revision_object_fits_its_model_and_is_owned_by_the_workload() -> None:
    environment = {"metadata": {"name": "dev", "generation": 4}}
    images = [from_registry("main", IMAGE, A, None)]
    origin = Origin(promotion="dev/promote-1", revision="ci/checkout-r3")
    manifest = revision_manifest(body(), environment, 3, images, origin)
    parsed = WorkloadRevision.model_validate(manifest)
    assert parsed.name == "checkout-r3"
    assert parsed.spec.template == {"containers": {"main": {"image": f"{IMAGE}@{A}"}}}
    assert parsed.spec.hash == template_hash(parsed.spec.template)
    assert (parsed.spec.environment_generation, parsed.spec.workload_generation) == (4, 2)
    assert parsed.spec.origin is not None
    assert parsed.spec.origin.promotion == "dev/promote-1"
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert manifest["metadata"]["labels"]["berth.dev/workload"] == "checkout"
    assert "origin" not in revision_manifest(body(), environment, 1, images, Origin())["spec"]
