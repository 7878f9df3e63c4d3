"""handlers.revisions on the fake API: a revision per Ready generation, its digests, one
revision per distinct pinned spec, the history, and collection past the limit."""

from __future__ import annotations

from berth.api.revision import WorkloadRevision
from berth.api.workload import WorkloadStatus
from berth.names import PROMOTED_REVISION_ANNOTATION, PROMOTION_ANNOTATION
from tests.unit.pipeline_world import API, DIGEST, IMAGE, OTHER, Pipeline

NS = "dev"


async def ready_dev(world: Pipeline, image_id: str | None = f"r/x@{DIGEST}") -> None:
    world.add_environment(NS)
    world.add_workload("checkout", NS)
    await world.make_ready("checkout", NS, image_id)


async def test_a_ready_generation_is_recorded_with_the_digest_its_pods_ran() -> None:
    world = Pipeline()
    await ready_dev(world)
    assert await world.record("checkout", NS) is None
    (revision,) = world.revisions(NS)
    parsed = WorkloadRevision.model_validate(revision)
    assert parsed.name == "checkout-r1"
    assert parsed.spec.template["containers"]["main"]["image"] == f"{IMAGE}@{DIGEST}"
    assert [(i.source, i.digest) for i in parsed.spec.images] == [("Pod", DIGEST)]
    assert parsed.spec.origin is None
    status = world.body("Workload", "checkout", NS)["status"]
    assert status["revision"] == {"name": "checkout-r1", "number": 1, "workloadGeneration": 1}
    assert status["history"] == [
        {"revision": "checkout-r1", "number": 1, "time": "2026-01-01T12:00:00Z"}
    ]
    assert WorkloadStatus.model_validate(status).revision is not None
    assert world.api.event_reasons("checkout")[-1] == "RevisionRecorded"
    assert world.registry.asked == []


async def test_a_generation_recorded_is_not_recorded_again() -> None:
    world = Pipeline()
    await ready_dev(world)
    await world.record("checkout", NS)
    assert await world.record("checkout", NS) is None
    assert world.api.written() == []


async def test_the_workloads_own_status_writes_leave_revision_and_history_alone() -> None:
    world = Pipeline()
    await ready_dev(world)
    await world.record("checkout", NS)
    await world.reconcile_workload("checkout", NS)
    world.api.forget_history()
    await world.reconcile_workload("checkout", NS)
    assert world.api.written() == []  # a quiet reconcile still writes nothing
    status = world.body("Workload", "checkout", NS)["status"]
    assert status["revision"]["name"] == "checkout-r1"
    assert len(status["history"]) == 1


async def test_a_generation_not_ready_is_not_due() -> None:
    world = Pipeline()
    await ready_dev(world)
    await world.record("checkout", NS)
    world.edit("checkout", NS, replicas=2)
    assert await world.record("checkout", NS) is None
    assert len(world.revisions(NS)) == 1


async def test_each_distinct_spec_is_one_revision_and_a_return_reuses_the_old_one() -> None:
    world = Pipeline()
    await ready_dev(world)
    await world.record("checkout", NS)
    world.edit("checkout", NS, replicas=2)
    await world.make_ready("checkout", NS)
    await world.record("checkout", NS)
    world.edit("checkout", NS, replicas=None)
    await world.make_ready("checkout", NS)
    await world.record("checkout", NS)
    assert [r["metadata"]["name"] for r in world.revisions(NS)] == ["checkout-r1", "checkout-r2"]
    status = world.body("Workload", "checkout", NS)["status"]
    assert status["revision"] == {"name": "checkout-r1", "number": 1, "workloadGeneration": 3}
    assert [e["revision"] for e in status["history"]] == [
        "checkout-r1",
        "checkout-r2",
        "checkout-r1",
    ]


async def test_without_a_reported_digest_the_registry_is_asked_with_the_pull_secrets() -> None:
    world = Pipeline()
    world.api.add(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": NS},
            "imagePullSecrets": [{"name": "pull"}, {"name": "gone"}],
        }
    )
    world.api.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "pull", "namespace": NS},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "e30="},
        }
    )
    world.registry.digests[IMAGE] = OTHER
    await ready_dev(world, image_id=None)
    await world.record("checkout", NS)
    assert world.registry.asked == [(IMAGE, ["pull"])]
    (revision,) = world.revisions(NS)
    assert revision["spec"]["images"][0]["source"] == "Registry"
    assert revision["spec"]["template"]["containers"]["main"]["image"] == f"{IMAGE}@{OTHER}"


async def test_a_digest_no_one_can_give_is_recorded_unresolved_with_the_reason() -> None:
    world = Pipeline()
    await ready_dev(world, image_id="")
    await world.record("checkout", NS)
    (revision,) = world.revisions(NS)
    (image,) = revision["spec"]["images"]
    assert image == {
        "container": "main",
        "image": IMAGE,
        "pinned": IMAGE,
        "source": "Unresolved",
        "message": f"registry has no {IMAGE}",
    }
    assert world.registry.asked == [(IMAGE, [])]  # no ServiceAccount: no pull Secrets


async def test_the_oldest_unreferenced_revisions_are_collected() -> None:
    world = Pipeline()
    world.add_environment(NS, promotion={"revisionHistoryLimit": 2})
    world.add_workload("checkout", NS)
    await world.make_ready("checkout", NS, f"r/x@{DIGEST}")
    await world.record("checkout", NS)
    # A Promotion under way applies revision 1: it stays.
    world.world.add(
        {
            "apiVersion": API,
            "kind": "Promotion",
            "metadata": {"name": "p", "namespace": "prod"},
            "spec": {"workload": "checkout", "from": NS},
            "status": {"phase": "Progressing", "sourceRevision": f"{NS}/checkout-r1"},
        }
    )
    for replicas in (2, 3, 4):
        world.edit("checkout", NS, replicas=replicas)
        await world.make_ready("checkout", NS)
        await world.record("checkout", NS)
    names = [r["metadata"]["name"] for r in world.revisions(NS)]
    assert names == ["checkout-r1", "checkout-r4"]
    assert ("delete", "WorkloadRevision", "checkout-r3") in world.api.written()
    status = world.body("Workload", "checkout", NS)["status"]
    assert [e["number"] for e in status["history"]] == [4, 3]  # as long as the limit


async def test_a_promotion_that_wrote_the_generation_is_its_origin() -> None:
    world = Pipeline()
    await ready_dev(world)
    await world.record("checkout", NS)
    source = world.revisions(NS)[0]
    world.add_environment("prod")
    target = world.add_workload("checkout", "prod", **source["spec"]["template"])
    target["metadata"]["annotations"] = {
        PROMOTION_ANNOTATION: "prod/promote-1",
        PROMOTED_REVISION_ANNOTATION: f"{NS}/checkout-r1",
    }
    world.api.put(target)
    await world.make_ready("checkout", "prod")
    await world.record("checkout", "prod")
    (revision,) = world.revisions("prod")
    assert revision["spec"]["origin"] == {
        "promotion": "prod/promote-1",
        "revision": f"{NS}/checkout-r1",
    }
    assert revision["spec"]["images"][0]["source"] == "Spec"
    assert revision["spec"]["hash"] == source["spec"]["hash"]
    history = world.body("Workload", "checkout", "prod")["status"]["history"]
    assert history[0]["promotion"] == "prod/promote-1"


async def test_annotations_left_from_an_older_promotion_are_not_believed() -> None:
    world = Pipeline()
    world.add_environment(NS)
    body = world.add_workload("checkout", NS)
    body["metadata"]["annotations"] = {
        PROMOTION_ANNOTATION: "dev/old",
        PROMOTED_REVISION_ANNOTATION: "elsewhere/checkout-r9",
    }
    world.api.put(body)
    await world.make_ready("checkout", NS, f"r/x@{DIGEST}")
    await world.record("checkout", NS)
    (revision,) = world.revisions(NS)
    assert "origin" not in revision["spec"]


async def test_a_number_taken_by_another_writer_is_looked_at_again() -> None:
    world = Pipeline()
    await ready_dev(world)
    world.api.refuse("create", "WorkloadRevision", status=409, reason="AlreadyExists", times=1)
    assert await world.record("checkout", NS) == 0.0
    assert world.revisions(NS) == []


async def test_a_workload_gone_or_without_environment_records_nothing() -> None:
    world = Pipeline()
    assert await world.record("nothing", NS) is None
    world.add_workload("orphan", "nowhere")
    await world.sync()
    assert await world.record("orphan", "nowhere") is None
    assert world.api.written() == []


async def test_an_unreadable_service_account_or_secret_gives_no_pull_secrets() -> None:
    from berth.kube.pullsecrets import pull_secrets

    world = Pipeline()
    world.api.add(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": NS},
            "imagePullSecrets": [{"name": "forbidden"}, {}],
        }
    )
    world.api.refuse("get", "Secret", "forbidden", status=403)
    assert await pull_secrets(world.api, NS) == []
    world.api.refuse("get", "ServiceAccount", status=403)
    assert await pull_secrets(world.api, NS) == []
