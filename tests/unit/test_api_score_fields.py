"""Which fields Score allows where a typo is (berth.api.score_fields)."""

from __future__ import annotations

from berth.api.score_fields import score_fields_at


def test_the_workload_level_lists_scores_fields_not_berths() -> None:
    assert score_fields_at(("contianers",)) == ["containers", "metadata", "resources", "service"]


def test_fields_inside_maps_and_models() -> None:
    fields = score_fields_at(("containers", "main", "imgae"))
    assert fields is not None
    assert "image" in fields
    assert "livenessProbe" in fields
    assert score_fields_at(("containers", "main", "livenessProbe", "httpGet", "pth")) == [
        "host",
        "httpHeaders",
        "path",
        "port",
        "scheme",
    ]


def test_a_place_that_is_not_a_model_has_no_fields() -> None:
    assert score_fields_at(("containers", "main", "image", "x")) is None
    assert score_fields_at(("nothing", "x")) is None
