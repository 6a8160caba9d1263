"""Configuration: defaults -> var/secrets.toml -> callcenter.toml -> CALLCENTER_* environment."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from callcenter import config as configuration
from callcenter.config import ConfigError, ensure_secrets, load


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def env(state_dir: Path) -> dict[str, str]:
    """An environment that keeps every test away from the repository's var/."""
    return {"CALLCENTER_STATE_DIR": str(state_dir)}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "callcenter.toml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_given_no_file_and_no_env_when_loaded_then_defaults(config_file, env, state_dir):
    cfg = load(config_file, env)

    assert cfg.ari.url == "http://127.0.0.1:8088"
    assert (cfg.ari.username, cfg.ari.password, cfg.ari.app) == ("callcenter", "", "callcenter")
    assert (cfg.http.host, cfg.http.port, cfg.http.api_token) == ("127.0.0.1", 8080, "")
    assert cfg.telephony.agent_ring_timeout == 15 and cfg.telephony.queue_announce_seconds == 30.0
    assert cfg.recordings.enabled is True
    assert cfg.state_path == state_dir
    assert cfg.database_url == f"sqlite:///{state_dir / 'callcenter.db'}"


def test_given_file_when_loaded_then_file_overrides_defaults_with_types(config_file, env):
    write(config_file, """
[ari]
url = "http://asterisk.example:8088"
reconnect_max_delay = 3
[http]
port = 8443
[telephony]
queue_announce_seconds = 0
[recordings]
enabled = false
""")

    cfg = load(config_file, env)

    assert cfg.ari.url == "http://asterisk.example:8088"
    assert cfg.ari.reconnect_max_delay == 3.0 and isinstance(cfg.ari.reconnect_max_delay, float)
    assert cfg.http.port == 8443
    assert cfg.telephony.queue_announce_seconds == 0.0
    assert cfg.recordings.enabled is False
    assert cfg.ari.username == "callcenter"  # untouched keys keep their defaults


def test_given_file_and_env_when_loaded_then_env_wins_and_is_typed(config_file, env):
    write(config_file, '[ari]\nurl = "http://from-file:8088"\n[http]\nport = 8443\n')
    env |= {"CALLCENTER_ARI_URL": "http://from-env:8089", "CALLCENTER_HTTP_PORT": "9090",
            "CALLCENTER_RECORDINGS_ENABLED": "off", "CALLCENTER_TELEPHONY_AGENT_RING_TIMEOUT": "20"}

    cfg = load(config_file, env)

    assert cfg.ari.url == "http://from-env:8089"
    assert cfg.http.port == 9090 and isinstance(cfg.http.port, int)
    assert cfg.recordings.enabled is False
    assert cfg.telephony.agent_ring_timeout == 20


def test_given_config_file_named_in_env_when_loaded_without_path_then_that_file_is_read(tmp_path, env):
    other = write(tmp_path / "elsewhere.toml", "[http]\nport = 7070\n")

    cfg = load(None, env | {"CALLCENTER_CONFIG": str(other)})

    assert cfg.http.port == 7070


def test_given_script_variables_when_loaded_then_ignored(config_file, env):
    env |= {"CALLCENTER_SANDBOX_ROOT": "/x", "CALLCENTER_PG_PORT": "1", "CALLCENTER_TEST_POSTGRES": "0",
            "CALLCENTER_DEMO_SPEED": "2", "PATH": "/bin"}

    assert load(config_file, env).http.port == 8080


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("CALLCENTER_HTTP_PORT", "eighty",
     "http.port: expected an integer, got 'eighty' (from CALLCENTER_HTTP_PORT)"),
    ("CALLCENTER_ARI_RECONNECT_MAX_DELAY", "soon",
     "ari.reconnect_max_delay: expected a number, got 'soon' (from CALLCENTER_ARI_RECONNECT_MAX_DELAY)"),
    ("CALLCENTER_RECORDINGS_ENABLED", "maybe",
     "recordings.enabled: expected true or false, got 'maybe' (from CALLCENTER_RECORDINGS_ENABLED)"),
    ("CALLCENTER_HTTP_PROT", "80", "http.prot: unknown setting (from CALLCENTER_HTTP_PROT)"),
    ("CALLCENTER_WEB_PORT", "80", "CALLCENTER_WEB_PORT: no configuration section matches this variable"),
])
def test_given_bad_env_value_when_loaded_then_config_error_names_key_and_variable(
        config_file, env, name, value, expected):
    with pytest.raises(ConfigError) as caught:
        load(config_file, env | {name: value})

    assert str(caught.value) == expected


def test_given_region_in_lower_case_when_loaded_then_region_code_as_phonenumbers_names_it(config_file, env):
    cfg = load(config_file, env | {"CALLCENTER_TELEPHONY_DEFAULT_REGION": "gb"})

    assert cfg.telephony.default_region == "GB"


def test_given_region_that_does_not_exist_when_loaded_then_config_error_names_the_setting(config_file, env):
    write(config_file, "[telephony]\ndefault_region = 'UK'\n")

    with pytest.raises(ConfigError, match=r"^telephony.default_region: 'UK' is not a region code"):
        load(config_file, env)


@pytest.mark.parametrize(("text", "expected"), [
    ("[asterisk]\nurl = 'x'\n", "asterisk: unknown configuration section"),
    ("[ari]\npasword = 'x'\n", "ari.pasword: unknown setting"),
    ("[http]\nport = 'eighty'\n", "http.port: expected an integer, got 'eighty'"),
    ("[http]\nport = true\n", "http.port: expected an integer, got True"),
    ("[ari]\nurl = 8088.5\nusername = ['a']\n", "ari.username: expected a string, got ['a']"),
    ("ari = 'http://x'\n", "ari: expected a table of settings"),
])
def test_given_bad_file_when_loaded_then_config_error_names_key_and_file(config_file, env, text, expected):
    write(config_file, text)

    with pytest.raises(ConfigError) as caught:
        load(config_file, env)

    assert str(caught.value) == f"{expected} (from {config_file})"


def test_given_file_that_is_not_toml_when_loaded_then_config_error_names_the_file(config_file, env):
    write(config_file, "[ari\nurl = \n")

    with pytest.raises(ConfigError) as caught:
        load(config_file, env)

    assert str(caught.value).startswith(f"{config_file}: ")
    assert "line 1" in str(caught.value)


def test_given_bad_secrets_file_when_loaded_then_config_error_names_the_secrets_file(
        config_file, env, state_dir):
    secrets = write(state_dir / "secrets.toml", "[ari]\npassword = 5\nport = 1\n")

    with pytest.raises(ConfigError) as caught:
        load(config_file, env)

    assert str(caught.value) == f"ari.port: unknown setting (from {secrets})"


# -- secrets -----------------------------------------------------------------------------------------------


def test_given_no_secrets_when_ensured_then_file_created_private_with_random_values(
        config_file, env, tmp_path):
    path = ensure_secrets(load(config_file, env))
    other = ensure_secrets(load(config_file, {"CALLCENTER_STATE_DIR": str(tmp_path / "other")}))

    assert path == Path(env["CALLCENTER_STATE_DIR"]) / "secrets.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    cfg = load(config_file, env)
    values = (cfg.ari.password, cfg.http.api_token, cfg.http.session_key)
    assert all(len(v) >= 24 for v in values) and len(set(values)) == 3
    assert cfg.ari.password != configuration.tomllib.loads(other.read_text())["ari"]["password"]
    assert not path.with_suffix(".tmp").exists()


def test_given_existing_secrets_when_ensured_again_then_kept_unchanged(config_file, env):
    path = ensure_secrets(load(config_file, env))
    before = path.read_text()

    ensure_secrets(load(config_file, env))

    assert path.read_text() == before


def test_given_secrets_file_missing_one_secret_when_ensured_then_only_that_one_added(
        config_file, env, state_dir):
    write(state_dir / "secrets.toml", '[ari]\npassword = "chosen-by-operator"\nusername = "cc"\n')

    ensure_secrets(load(config_file, env))

    cfg = load(config_file, env)
    assert (cfg.ari.password, cfg.ari.username) == ("chosen-by-operator", "cc")
    assert len(cfg.http.api_token) >= 32 and len(cfg.http.session_key) >= 32


def test_given_operator_password_with_quote_and_backslash_when_secrets_filled_in_then_still_readable(
        config_file, env, state_dir):
    write(state_dir / "secrets.toml", '[ari]\npassword = "p\\"w\\\\d"\n')
    assert load(config_file, env).ari.password == 'p"w\\d'

    ensure_secrets(load(config_file, env))

    cfg = load(config_file, env)
    assert cfg.ari.password == 'p"w\\d'
    assert cfg.http.api_token


def test_given_secrets_when_file_and_env_also_set_then_file_and_env_win(config_file, env):
    ensure_secrets(load(config_file, env))
    write(config_file, '[ari]\npassword = "from-file"\n')

    cfg = load(config_file, env | {"CALLCENTER_HTTP_API_TOKEN": "from-env"})

    assert cfg.ari.password == "from-file"
    assert cfg.http.api_token == "from-env"
    assert cfg.http.session_key  # still from the secrets file


def test_given_state_dir_in_file_when_loaded_then_secrets_read_from_there(tmp_path, config_file):
    state = tmp_path / "from-file-state"
    write(state / "secrets.toml", '[http]\napi_token = "t0k"\n')
    write(config_file, f'state_dir = "{state}"\n')

    cfg = load(config_file, {})

    assert cfg.state_path == state and cfg.http.api_token == "t0k"
