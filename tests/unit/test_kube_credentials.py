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


def test_a_username_and_password_are_refused_in_plain_words(tmp_path: Path) -> None:
    # Basic authentication left Kubernetes in 1.19; sent as a bearer token it would
    # only be a 401 that says nothing.
    with pytest.raises(credentials.CredentialsError, match="unsupported authorization scheme"):
        credentials.load(kubeconfig(tmp_path, {"username": "admin", "password": "pw"}))


@pytest.fixture
def service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Pod's mounted ServiceAccount (token, CA, namespace) and its environment."""
    from kubernetes.config import incluster_config

    mounted = tmp_path / "serviceaccount"
    mounted.mkdir()
    (mounted / "token").write_text("sa-token")
    (mounted / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (mounted / "namespace").write_text("berth-system\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(mounted / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(mounted / "ca.crt"))
    monkeypatch.setattr(credentials, "SERVICE_ACCOUNT_DIR", mounted)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    return mounted


def test_in_a_pod_the_service_account_is_used(service_account: Path) -> None:
    creds = credentials.load()
    assert creds.server == "https://10.96.0.1:443"
    assert creds.token == "sa-token"
    assert creds.ca_path == str(service_account / "ca.crt")
    assert creds.verify_tls is True
    assert creds.default_namespace == "berth-system"


def test_in_a_pod_an_explicit_kubeconfig_still_wins(service_account: Path, tmp_path: Path) -> None:
    creds = credentials.load(kubeconfig(tmp_path, {"token": "abc.def"}))
    assert (creds.server, creds.token, creds.default_namespace) == (
        "https://127.0.0.1:6443",
        "abc.def",
        None,
    )


def test_in_a_pod_without_a_namespace_file_there_is_no_default(service_account: Path) -> None:
    (service_account / "namespace").unlink()
    assert credentials.load().default_namespace is None


def test_in_a_pod_a_missing_token_is_a_clear_error(service_account: Path) -> None:
    (service_account / "token").unlink()
    with pytest.raises(credentials.CredentialsError, match="in-cluster ServiceAccount"):
        credentials.load()
