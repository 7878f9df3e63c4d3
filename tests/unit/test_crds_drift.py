"""crds/ must be exactly what the models generate."""

from __future__ import annotations

from pathlib import Path

from berth.api.crdgen import build_crds, crd_filename, dump_crd

CRDS = Path(__file__).resolve().parents[2] / "crds"


def test_crd_files_match_the_models() -> None:
    expected = {crd_filename(crd): dump_crd(crd) for crd in build_crds()}
    present = {path.name for path in CRDS.glob("*.yaml")} if CRDS.is_dir() else set()
    assert present == set(expected), (
        f"crds/ holds {sorted(present)}, the models generate {sorted(expected)}: run `make crds`"
    )
    for name, text in expected.items():
        actual = (CRDS / name).read_text(encoding="utf-8")
        assert actual == text, f"crds/{name} differs from the models: run `make crds`"
