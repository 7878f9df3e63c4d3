"""Credentials are read from a kubeconfig the way kubectl reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from berth.kube import credentials


def kubeconfig(tmp_path: Path, user: dict[str, object]) -> str:
    path = tmp_path / "config"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "ctx",
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://127.0.0.1:6443",
                            "insecure-skip-tls-verify": True,
                        },
                    }
                ],
                "users": [{"name": "u", "user": user}],
            }
        )
    )
    return str(path)


def test_a_token_kubeconfig_gives_a_bearer_token(tmp_path: Path) -> None:
    creds = credentials.load(kubeconfig(tmp_path, {"token": "abc.def"}))
    assert creds.token == "abc.def"
    assert creds.server == "https://127.0.0.1:6443"
    assert creds.verify_tls is False


def test_client_certificates_are_kept_as_paths(tmp_path: Path) -> None:
    (tmp_path / "c.crt").write_text("cert")
    (tmp_path / "c.key").write_text("key")
    creds = credentials.load(
        kubeconfig(
            tmp_path,
            {"client-certificate": str(tmp_path / "c.crt"), "client-key": str(tmp_path / "c.key")},
        )
    )
    assert creds.token is None
    assert creds.cert_path == str(tmp_path / "c.crt")


def test_a_missing_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(credentials.CredentialsError, match="cannot load Kubernetes credentials"):
        credentials.load(str(tmp_path / "nope"))
