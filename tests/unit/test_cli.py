"""The offline commands of `berth`: render, import, crds (and --help everywhere)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.api import Workload
from berth.api.crdgen import build_crds, crd_filename, dump_crd
from berth.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CHECKOUT = str(EXAMPLES / "checkout.yaml")
HELLO = str(EXAMPLES / "hello.yaml")
ENVIRONMENT = str(EXAMPLES / "environment.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return str(path)


NEEDS_DB = """
    apiVersion: berth.dev/v1alpha1
    kind: Workload
    metadata:
      name: shop
    spec:
      containers:
        main:
          image: registry.acme.dev/shop:1.0.0
          variables:
            DB_HOST: ${resources.db.host}
            DB_PORT: ${resources.db.port}
            DB_PASSWORD: ${resources.db.password}
      resources:
        db:
          type: postgres
"""

DB_OUTPUTS = """
    db:
      host: db.team-a-dev.svc
      port: 5432
      password:
        secretRef: {name: shop-db-conn, key: password}
"""


def env_of(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


# -- berth render ---------------------------------------------------------------------------


def test_render_checkout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "render", "-f", CHECKOUT, "-e", ENVIRONMENT)
    assert (code, err) == (0, "")
    assert out.startswith("---\n")
    manifests = list(yaml.safe_load_all(out))
    assert [(m["kind"], m["metadata"]["name"]) for m in manifests] == [
        ("ConfigMap", "checkout-files"),
        ("Deployment", "checkout"),
        ("Service", "checkout"),
    ]
    assert {m["metadata"]["namespace"] for m in manifests} == {"team-a-dev"}
    deployment = manifests[1]
    assert deployment["spec"]["replicas"] == 2
    assert env_of(manifests)["TEAM"] == {"name": "TEAM", "value": "payments"}
    assert manifests[0]["data"] == {
        "main_etc_checkout_config.yaml": "service: checkout\nteam: payments\n"
    }


def test_render_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = [run(capsys, "render", "-f", CHECKOUT, "-e", ENVIRONMENT)[1] for _ in range(3)]
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0]


def test_render_is_the_operators_code_path(capsys: pytest.CaptureFixture[str]) -> None:
    from berth.api import Environment
    from berth.render import render_workload

    code, out, _ = run(capsys, "render", "-f", CHECKOUT, "-e", ENVIRONMENT)
    assert code == 0
    workload = Workload.model_validate(yaml.safe_load(Path(CHECKOUT).read_text()))
    environment = Environment.model_validate(yaml.safe_load(Path(ENVIRONMENT).read_text()))
    expected = render_workload(workload, environment, outputs={}).manifests
    assert list(yaml.safe_load_all(out)) == expected


def test_render_json_is_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", "-f", HELLO, "-e", ENVIRONMENT, "-o", "json")
    assert code == 0
    listing = json.loads(out)
    assert listing["apiVersion"] == "v1"
    assert listing["kind"] == "List"
    assert [m["kind"] for m in listing["items"]] == ["Deployment"]
    _, yaml_out, _ = run(capsys, "render", "-f", HELLO, "-e", ENVIRONMENT)
    assert listing["items"] == list(yaml.safe_load_all(yaml_out))


def test_render_defaults_the_namespace_to_the_environments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    workload = yaml.safe_load(Path(HELLO).read_text())
    del workload["metadata"]["namespace"]
    path = tmp_path / "hello.yaml"
    path.write_text(yaml.safe_dump(workload))
    code, out, err = run(capsys, "render", "-f", str(path), "-e", ENVIRONMENT)
    assert (code, err) == (0, "")
    assert [m["metadata"]["namespace"] for m in yaml.safe_load_all(out)] == ["team-a-dev"]


def test_render_multiline_content_is_a_block(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "render", "-f", CHECKOUT, "-e", ENVIRONMENT)
    assert "main_etc_checkout_config.yaml: |\n    service: checkout\n" in out


def test_render_without_outputs_explains(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    workload = write(tmp_path, "shop.yaml", NEEDS_DB)
    code, out, err = run(capsys, "render", "-f", workload, "-e", ENVIRONMENT)
    assert code == 1
    assert out == ""
    assert f"{workload}: OutputsUnavailable: " in err
    assert "'db'" in err
    assert "--outputs" in err


def test_render_with_outputs_makes_secret_outputs_secret_key_refs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    workload = write(tmp_path, "shop.yaml", NEEDS_DB)
    outputs = write(tmp_path, "outputs.yaml", DB_OUTPUTS)
    code, out, err = run(capsys, "render", "-f", workload, "-e", ENVIRONMENT, "--outputs", outputs)
    assert (code, err) == (0, "")
    env = env_of(list(yaml.safe_load_all(out)))
    assert env["DB_PASSWORD"] == {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "shop-db-conn", "key": "password"}},
    }
    assert env["DB_HOST"] == {"name": "DB_HOST", "value": "db.team-a-dev.svc"}
    assert env["DB_PORT"] == {"name": "DB_PORT", "value": "5432"}  # as written, as text
    assert "password" not in {e.get("value") for e in env.values()}


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("db:\n  host: [a, b]\n", 2, "db.host: a value must be text or {secretRef"),
        ("db:\n  password: {secretRef: {name: s}}\n", 2, "db.password.secretRef: needs exactly"),
        ("db: 3\n", 1, "db: expected a mapping of output names to values"),
        ("- db\n", 1, "expected a mapping resource -> output -> value"),
        ("db:\n  host: ~\n", 2, "db.host: a value must be text"),
    ],
    ids=["list", "secret-without-key", "not-a-mapping", "top-list", "null"],
)
def test_render_bad_outputs_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, line: int, expected: str
) -> None:
    workload = write(tmp_path, "shop.yaml", NEEDS_DB)
    outputs = write(tmp_path, "outputs.yaml", text)
    code, _, err = run(capsys, "render", "-f", workload, "-e", ENVIRONMENT, "--outputs", outputs)
    assert code == 1
    assert f"{outputs}:{line}: {expected}" in err


def test_render_reports_render_problems(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    workload = write(
        tmp_path,
        "w.yaml",
        """
        apiVersion: berth.dev/v1alpha1
        kind: Workload
        metadata: {name: w, namespace: team-a-dev}
        spec:
          containers:
            main:
              image: docker.io/library/nginx:1
              variables:
                X: ${metadata.nope}
        """,
    )
    code, out, err = run(capsys, "render", "-f", workload, "-e", ENVIRONMENT)
    assert code == 1
    assert out == ""
    assert f"{workload}: ImageNotAllowed: " in err
    assert f"{workload}: UnknownMetadata: " in err
    assert "--outputs" not in err


BAD_FILES = {
    "yaml-syntax": (
        """
        apiVersion: berth.dev/v1alpha1
        kind: Workload
        metadata:
          name: w
        spec:
          containers:
            main:
              image: x: y
        """,
        8,
        "invalid YAML: mapping values are not allowed here",
    ),
    "yaml-unclosed": (
        """
        apiVersion: berth.dev/v1alpha1
        kind: Workload
        metadata: {name: w
        spec: {}
        """,
        4,
        "invalid YAML: expected ',' or '}', but got ':' (while parsing a flow mapping at line 3)",
    ),
    "wrong-kind": (
        """
        apiVersion: berth.dev/v1alpha1
        kind: Environment
        metadata: {name: w}
        """,
        2,
        "kind is 'Environment'; expected 'Workload'",
    ),
    "missing-kind": (
        """
        apiVersion: berth.dev/v1alpha1
        metadata: {name: w}
        """,
        1,
        "kind is missing; expected 'Workload'",
    ),
    "wrong-api-version": (
        """
        apiVersion: score.dev/v1b1
        kind: Workload
        metadata: {name: w}
        """,
        1,
        "apiVersion is 'score.dev/v1b1'; expected 'berth.dev/v1alpha1'",
    ),
    "missing-image": (
        """
        apiVersion: berth.dev/v1alpha1
        kind: Workload
        metadata:
          name: w
        spec:
          containers:
            main:
              command: [/app]
        """,
        7,
        "spec.containers.main.image: Field required",
    ),
    "wrong-type": (
        """
        apiVersion: berth.dev/v1alpha1
        kind: Workload
        metadata:
          name: w
        spec:
          replicas: -1
          containers:
            main:
              image: x
        """,
        6,
        "spec.replicas: Input should be greater than or equal to 0",
    ),
    "unknown-field": (
        """
        apiVersion: berth.dev/v1alpha1
        kind: Workload
        metadata:
          name: w
        spec:
          containers:
            main:
              image: x
              imagePullPolicy: Always
        """,
        9,
        "spec.containers.main.imagePullPolicy: imagePullPolicy is not a field of the Score "
        "specification (score.dev/v1b1) here; the fields here are: args, before, command",
    ),
    "bad-key": (
        """
        apiVersion: berth.dev/v1alpha1
        kind: Workload
        metadata:
          name: w
        spec:
          containers:
            Main_1:
              image: x
        """,
        7,
        "spec.containers.Main_1: invalid key: ",
    ),
    "list-form-file": (
        """
        apiVersion: berth.dev/v1alpha1
        kind: Workload
        metadata:
          name: w
        spec:
          containers:
            main:
              image: x
              files:
                - target: /etc/a
                  content: a
                - target: /etc/b
                  content: b
                  mode: "999"
        """,
        14,
        "spec.containers.main.files./etc/b.mode: String should match pattern",
    ),
    "duplicate-key": (
        """
        apiVersion: berth.dev/v1alpha1
        kind: Workload
        metadata:
          name: w
        spec:
          containers:
            main: {image: a}
            main: {image: b}
        """,
        8,
        "duplicate key 'main' (first at line 7)",
    ),
    "not-a-mapping": ("- a\n- b\n", 1, "expected a Workload, found a list"),
    "two-documents": (
        """
        apiVersion: berth.dev/v1alpha1
        kind: Workload
        ---
        apiVersion: berth.dev/v1alpha1
        kind: Workload
        """,
        4,
        "a second YAML document; expected only a Workload",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_workload_file_names_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    text, line, expected = BAD_FILES[case]
    workload = write(tmp_path, "workload.yaml", text)
    code, out, err = run(capsys, "render", "-f", workload, "-e", ENVIRONMENT)
    assert code == 1
    assert out == ""
    assert f"{workload}:{line}: {expected}" in err, err


def test_union_errors_make_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    workload = write(
        tmp_path,
        "w.yaml",
        """
        apiVersion: berth.dev/v1alpha1
        kind: Workload
        metadata: {name: w}
        spec:
          containers:
            main:
              image: x
              resources:
                requests: {cpu: lots}
        """,
    )
    code, _, err = run(capsys, "render", "-f", workload, "-e", ENVIRONMENT)
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{workload}:9: spec.containers.main.resources.requests.cpu: ")


def test_bad_environment_file_names_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    environment = write(
        tmp_path,
        "env.yaml",
        """
        apiVersion: berth.dev/v1alpha1
        kind: Environment
        metadata:
          name: dev
        spec:
          type: sandbox
          namespace: team-a-dev
        """,
    )
    code, _, err = run(capsys, "render", "-f", HELLO, "-e", environment)
    assert code == 1
    assert f"{environment}:6: spec.type: Input should be " in err


def test_environment_passed_as_workload(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "render", "-f", ENVIRONMENT, "-e", HELLO)
    assert code == 1
    assert f"{ENVIRONMENT}:4: kind is 'Environment'; expected 'Workload'" in err
    assert f"{HELLO}:3: kind is 'Workload'; expected 'Environment'" in err


def test_missing_and_empty_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    code, _, err = run(capsys, "render", "-f", missing, "-e", ENVIRONMENT)
    assert code == 1
    assert f"{missing}: cannot read: " in err
    empty = write(tmp_path, "empty.yaml", "# nothing here\n")
    code, _, err = run(capsys, "render", "-f", empty, "-e", ENVIRONMENT)
    assert code == 1
    assert f"{empty}: the file is empty; expected a Workload" in err


def test_render_reads_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(Path(HELLO).read_text()))
    code, out, _ = run(capsys, "render", "-f", "-", "-e", ENVIRONMENT)
    assert code == 0
    assert [m["kind"] for m in yaml.safe_load_all(out)] == ["Deployment"]


# -- berth import ---------------------------------------------------------------------------

SCORE = """
    apiVersion: score.dev/v1b1
    metadata:
      name: shop
      annotations:
        team: payments
      tier: web
    containers:
      main:
        image: registry.acme.dev/shop:1.0.0
        variables:
          DB_HOST: ${resources.db.host}
          DB_PASSWORD: ${resources.db.password}
        files:
          - target: /etc/shop/app.conf
            source: conf/app.conf
            mode: "0600"
          - target: /srv/logo.png
            source: ./conf/logo.png
          - target: /etc/shop/inline.txt
            content: inline ${metadata.name}
    service:
      ports:
        web:
          port: 80
          targetPort: 8080
    resources:
      db:
        type: postgres
"""

LOGO = b"\x89PNG\r\n\x1a\n\x00\x00\xff"


def score_dir(tmp_path: Path) -> str:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.conf").write_text("listen: 8080\nname: ${metadata.name}\n")
    (tmp_path / "conf" / "logo.png").write_bytes(LOGO)
    return write(tmp_path, "score.yaml", SCORE)


def test_import_makes_a_self_contained_workload(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    score = score_dir(tmp_path)
    code, out, err = run(capsys, "import", score, "--namespace", "team-a-dev")
    assert (code, err) == (0, "")
    workload = yaml.safe_load(out)
    assert workload["apiVersion"] == "berth.dev/v1alpha1"
    assert workload["kind"] == "Workload"
    # The Backstage label, so that the Workload itself shows in its component's
    # Kubernetes tab (the component: the Workload's name, no annotation names another).
    assert workload["metadata"] == {
        "name": "shop",
        "namespace": "team-a-dev",
        "labels": {"backstage.io/kubernetes-id": "shop"},
    }
    spec = workload["spec"]
    assert spec["metadata"] == {"annotations": {"team": "payments"}, "tier": "web"}
    assert "environment" not in spec
    files = spec["containers"]["main"]["files"]
    assert files[0] == {
        "target": "/etc/shop/app.conf",
        "content": "listen: 8080\nname: ${metadata.name}\n",
        "mode": "0600",
    }
    assert files[1] == {"target": "/srv/logo.png", "binaryContent": base64.b64encode(LOGO).decode()}
    assert files[2] == {"target": "/etc/shop/inline.txt", "content": "inline ${metadata.name}"}
    assert "source:" not in out
    assert spec["service"] == {"ports": {"web": {"port": 80, "targetPort": 8080}}}
    assert spec["resources"] == {"db": {"type": "postgres"}}
    assert spec["containers"]["main"]["variables"]["DB_PASSWORD"] == "${resources.db.password}"
    parsed = Workload.model_validate(workload)
    assert parsed.metadata.name == "shop"


def test_import_flags(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    score = score_dir(tmp_path)
    code, out, _ = run(capsys, "import", score, "--name", "shop-v2", "--environment", "team-a-dev")
    assert code == 0
    workload = yaml.safe_load(out)
    assert workload["metadata"] == {
        "name": "shop-v2",
        "labels": {"backstage.io/kubernetes-id": "shop-v2"},
    }
    assert workload["spec"]["environment"] == "team-a-dev"
    code, _, err = run(capsys, "import", score, "--name", "Shop_2")
    assert code == 1
    assert "--name 'Shop_2' is not a DNS-1035 label" in err


def test_import_is_deterministic(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    score = score_dir(tmp_path)
    assert run(capsys, "import", score)[1] == run(capsys, "import", score)[1]


def test_import_then_render(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    score = score_dir(tmp_path)
    code, out, _ = run(capsys, "import", score, "--namespace", "team-a-dev")
    assert code == 0
    workload = tmp_path / "workload.yaml"
    workload.write_text(out)
    outputs = write(tmp_path, "outputs.yaml", DB_OUTPUTS)
    code, rendered, err = run(
        capsys, "render", "-f", str(workload), "-e", ENVIRONMENT, "--outputs", outputs
    )
    assert (code, err) == (0, "")
    manifests = list(yaml.safe_load_all(rendered))
    assert [m["kind"] for m in manifests] == ["ConfigMap", "Deployment", "Service"]
    configmap = manifests[0]
    assert configmap["data"]["main_etc_shop_app.conf"] == "listen: 8080\nname: shop\n"
    assert configmap["data"]["main_etc_shop_inline.txt"] == "inline shop"
    assert base64.b64decode(configmap["binaryData"]["main_srv_logo.png"]) == LOGO
    assert env_of(manifests)["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "shop-db-conn"
    annotations = manifests[1]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["team"] == "payments"


def test_import_map_form_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "motd").write_text("hello\n")
    score = write(
        tmp_path,
        "score.yaml",
        """
        apiVersion: score.dev/v1b1
        metadata: {name: web}
        containers:
          main:
            image: x
            files:
              /etc/motd:
                source: motd
                noExpand: true
        """,
    )
    code, out, _ = run(capsys, "import", score)
    assert code == 0
    files = yaml.safe_load(out)["spec"]["containers"]["main"]["files"]
    assert files == {"/etc/motd": {"content": "hello\n", "noExpand": True}}


BAD_SCORES = {
    "wrong-api-version": (
        """
        apiVersion: score.dev/v1b2
        metadata: {name: web}
        containers: {main: {image: x}}
        """,
        1,
        "apiVersion is 'score.dev/v1b2'; expected 'score.dev/v1b1'",
    ),
    "bad-name": (
        """
        apiVersion: score.dev/v1b1
        metadata:
          name: Web_1
        containers: {main: {image: x}}
        """,
        3,
        "metadata.name: 'Web_1' is not a DNS-1035 label",
    ),
    "name-starts-with-digit": (
        """
        apiVersion: score.dev/v1b1
        metadata:
          name: 1web
        containers: {main: {image: x}}
        """,
        3,
        "metadata.name: '1web' is not a DNS-1035 label",
    ),
    "no-name": (
        """
        apiVersion: score.dev/v1b1
        metadata:
          annotations: {a: b}
        containers: {main: {image: x}}
        """,
        2,
        "metadata.name: Field required",
    ),
    "unknown-top-level": (
        """
        apiVersion: score.dev/v1b1
        metadata: {name: web}
        containers: {main: {image: x}}
        replicas: 3
        """,
        4,
        "replicas: not a field of a Score workload",
    ),
    "missing-source-file": (
        """
        apiVersion: score.dev/v1b1
        metadata: {name: web}
        containers:
          main:
            image: x
            files:
              - target: /etc/x
                source: does-not-exist.txt
        """,
        8,
        "containers.main.files.0.source: cannot read ",
    ),
    "invalid-container": (
        """
        apiVersion: score.dev/v1b1
        metadata: {name: web}
        containers:
          main:
            image: x
            variables:
              PORT: 8080
        """,
        7,
        "containers.main.variables.PORT: Input should be a valid string",
    ),
    "no-containers": (
        """
        apiVersion: score.dev/v1b1
        metadata: {name: web}
        """,
        1,
        "containers: Field required",
    ),
    "yaml-syntax": (
        """
        apiVersion: score.dev/v1b1
        metadata: {name: web}
        containers:
          main:
            image: "x
        """,
        6,
        "invalid YAML: ",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SCORES))
def test_bad_score_file_names_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    text, line, expected = BAD_SCORES[case]
    score = write(tmp_path, "score.yaml", text)
    code, out, err = run(capsys, "import", score)
    assert code == 1
    assert out == ""
    assert f"{score}:{line}: {expected}" in err, err


# -- berth crds -----------------------------------------------------------------------------


def test_crds_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "crds")
    assert code == 0
    assert out == "".join(dump_crd(crd) for crd in build_crds())
    kinds = [doc["spec"]["names"]["kind"] for doc in yaml.safe_load_all(out) if doc]
    assert kinds == [
        "Workload",
        "Environment",
        "ClusterProvisioner",
        "Preview",
        "WorkloadRevision",
        "Promotion",
        "PromotionApproval",
    ]


def test_crds_to_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_dir = tmp_path / "crds"
    code, out, _ = run(capsys, "crds", "--out", str(out_dir))
    assert code == 0
    for crd in build_crds():
        assert (out_dir / crd_filename(crd)).read_text() == dump_crd(crd)
    assert out.count("wrote ") == 7
    code, out, _ = run(capsys, "crds", "--out", str(out_dir))
    assert code == 0
    assert out.count("unchanged ") == 7


# -- help and the command line itself -------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("render", ["--filename", "--environment", "--output", "--outputs", "yaml", "json"]),
        ("import", ["SCORE_FILE", "--name", "--namespace", "--environment"]),
        ("crds", ["--out"]),
        ("run", ["--kubeconfig", "--context", "--namespace", "--workers", "--qps", "--burst"]),
    ],
)
def test_help_of_every_command(
    capsys: pytest.CaptureFixture[str], command: str, options: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in options:
        assert option in out, option


def test_top_level_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "render", "import", "crds"):
        assert command in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_render_needs_both_files(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["render", "-f", CHECKOUT])
    assert exit_info.value.code == 2
    assert "-e/--environment" in capsys.readouterr().err


def test_run_flags_still_parse() -> None:
    from berth.cli import build_parser

    args = build_parser().parse_args(
        [
            *("run", "--namespace", "a", "--namespace", "b", "--workers", "8", "--qps", "5.5"),
            *("--burst", "9", "--resync", "60", "--metrics-port", "0", "--health-port", "0"),
            *("--peering", "p", "--priority", "3", "--log-format", "json", "--log-level", "DEBUG"),
        ]
    )
    assert args.command == "run"
    assert args.namespace == ["a", "b"]
    assert (args.workers, args.qps, args.burst, args.resync) == (8, 5.5, 9, 60.0)
    assert (args.metrics_port, args.health_port, args.peering, args.priority) == (0, 0, "p", 3)
    assert (args.log_format, args.log_level) == ("json", "DEBUG")


def test_python_dash_m_berth_works_the_same() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "berth", "render", "-f", CHECKOUT, "-e", ENVIRONMENT],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    kinds = [m["kind"] for m in yaml.safe_load_all(done.stdout)]
    assert kinds == ["ConfigMap", "Deployment", "Service"]
    bad = subprocess.run(
        [sys.executable, "-m", "berth", "render", "-f", ENVIRONMENT, "-e", ENVIRONMENT],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "kind is 'Environment'; expected 'Workload'" in bad.stderr
