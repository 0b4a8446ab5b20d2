from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from policyarc.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("POLICYARC_"):
            monkeypatch.delenv(name)


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()

    assert settings.data_dir == tmp_path / ".policyarc"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/.policyarc/policyarc.db"
    assert settings.keyring_path == tmp_path / ".policyarc" / "keyring.json"
    assert settings.public_url == "http://127.0.0.1:8000"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.secret_keys is None
    assert settings.atlassian_auth_url == "https://auth.atlassian.com"
    assert settings.atlassian_api_url == "https://api.atlassian.com"
    assert settings.atlassian_site_url == "https://{site}.atlassian.net"
    assert settings.access_token_ttl == 900
    assert settings.refresh_token_ttl == 30 * 86_400
    assert settings.log_level == "info"
    assert settings.is_sqlite


def test_environment_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYARC_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("POLICYARC_PUBLIC_URL", "https://gateway.example.com/")
    monkeypatch.setenv("POLICYARC_ATLASSIAN_SITE_URL", "http://127.0.0.1:9400/site/{site}")
    monkeypatch.setenv("POLICYARC_PORT", "9000")
    monkeypatch.setenv("POLICYARC_LOG_LEVEL", "DEBUG")

    settings = load_settings()

    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/d/policyarc.db"
    assert settings.public_url == "https://gateway.example.com"
    assert settings.atlassian_site_url == "http://127.0.0.1:9400/site/{site}"
    assert settings.port == 9000
    assert settings.log_level == "debug"


def test_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYARC_PORT", "9000")
    assert load_settings(port=9100).port == 9100


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@db:5432/pa", "postgresql+asyncpg://u@db:5432/pa"),
        ("postgres://u@db/pa", "postgresql+asyncpg://u@db/pa"),
        ("postgresql+asyncpg://u@db/pa", "postgresql+asyncpg://u@db/pa"),
        ("sqlite:////var/lib/pa.db", "sqlite+aiosqlite:////var/lib/pa.db"),
    ],
)
def test_database_url_uses_the_async_drivers(given: str, expected: str) -> None:
    settings = load_settings(database_url=given)
    assert settings.database_url == expected
    assert settings.is_sqlite == expected.startswith("sqlite")


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"database_url": "mysql://u@db/pa"}, "POLICYARC_DATABASE_URL: use sqlite+aiosqlite"),
        ({"public_url": "http://gateway.example.com"}, "POLICYARC_PUBLIC_URL: must be https://"),
        ({"public_url": "https://gateway.example.com/?x=1"}, "POLICYARC_PUBLIC_URL: must not have a query"),
        ({"public_url": "gateway.example.com"}, "POLICYARC_PUBLIC_URL: must be an http:// or https:// URL"),
        ({"atlassian_api_url": "ftp://api"}, "POLICYARC_ATLASSIAN_API_URL: must be an http"),
        ({"atlassian_site_url": "https://acme.atlassian.net"}, "POLICYARC_ATLASSIAN_SITE_URL: must contain {site}"),
        ({"port": 0}, "POLICYARC_PORT:"),
        ({"access_token_ttl": 10}, "POLICYARC_ACCESS_TOKEN_TTL:"),
        ({"access_token_ttl": 7200, "refresh_token_ttl": 3600}, "refresh_token_ttl must be longer"),
        ({"log_level": "loud"}, "POLICYARC_LOG_LEVEL:"),
        ({"colour": "blue"}, "colour: unknown setting"),
    ],
)
def test_invalid_settings_are_explained(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings(**overrides)
    assert message in str(excinfo.value)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(SettingsError) as excinfo:
        load_settings(port=0, public_url="http://example.com")
    assert "POLICYARC_PORT" in str(excinfo.value) and "POLICYARC_PUBLIC_URL" in str(excinfo.value)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "127.0.0.2"])
def test_plain_http_is_fine_on_loopback(host: str) -> None:
    assert load_settings(public_url=f"http://{host}:8000").public_url == f"http://{host}:8000"


def test_secret_keys_are_validated_without_echoing_them(monkeypatch: pytest.MonkeyPatch) -> None:
    short_key = base64.b64encode(b"0123456789abcdef").decode()
    monkeypatch.setenv("POLICYARC_SECRET_KEYS", f"k1:{short_key}")

    with pytest.raises(SettingsError, match=r"POLICYARC_SECRET_KEYS: .*32 bytes") as excinfo:
        load_settings()
    assert short_key not in str(excinfo.value)
    # The pydantic error it replaces (kept as context) must not carry the input either.
    assert short_key not in str(excinfo.value.__context__)


def test_secret_keys_stay_hidden_in_repr() -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = load_settings(secret_keys=f"k1:{key}")

    assert settings.secret_keys is not None
    assert settings.secret_keys.get_secret_value() == f"k1:{key}"
    assert key not in repr(settings) and key not in str(settings)


def test_blank_secret_keys_mean_none() -> None:
    assert load_settings(secret_keys="  ").secret_keys is None


def test_settings_class_can_be_built_directly() -> None:
    # load_settings is the friendly entry point; the class itself still validates.
    with pytest.raises(ValueError, match="public_url"):
        Settings(public_url="http://example.com")


def test_oauth_rate_limits_are_read_and_reach_the_oauth_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from policyarc.oauth import OAuthConfig

    defaults = OAuthConfig.from_settings(load_settings(), environment_id="e", scopes=["jira:issues:read"])
    assert (defaults.register_per_minute, defaults.authorize_per_minute, defaults.login_per_minute) == (10, 30, 30)
    monkeypatch.setenv("POLICYARC_RATE_LIMIT_REGISTER", "0")
    monkeypatch.setenv("POLICYARC_RATE_LIMIT_AUTHORIZE", "120")
    monkeypatch.setenv("POLICYARC_RATE_LIMIT_LOGIN", "7")
    config = OAuthConfig.from_settings(load_settings(), environment_id="e", scopes=["jira:issues:read"])
    assert (config.register_per_minute, config.authorize_per_minute, config.login_per_minute) == (0, 120, 7)
    with pytest.raises(SettingsError, match="POLICYARC_RATE_LIMIT_LOGIN"):
        load_settings(rate_limit_login=-1)
