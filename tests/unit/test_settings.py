"""Operator settings: every problem reported at once, in words that say what to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import SettingsError
from app.settings import load_settings, unregistered

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\nMIIEdef\n-----END RSA PRIVATE KEY-----"
SECRET = "whsec-very-secret-value"


def valid(**overrides: str) -> dict[str, str]:
    base = {"APP_ID": "123", "PRIVATE_KEY": PEM, "WEBHOOK_SECRET": SECRET, "FIXER_COMMAND": "agent"}
    return {**base, **overrides}


def problems(environ: dict[str, str], env_file: Path | None = None) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ, env_file=env_file)
    return caught.value.problems


def test_valid_environment_gives_settings_with_defaults() -> None:
    settings = load_settings(valid(), env_file=None)
    assert settings.app_id == 123
    assert settings.private_key == PEM
    assert settings.webhook_secret == SECRET
    assert settings.port == 3000
    assert settings.github_api_url == "https://api.github.com"
    assert settings.store_path == Path("ci-fix-loop.sqlite3")
    assert not settings.insecure_allow_unsigned


def test_all_missing_required_settings_are_reported_in_one_error() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({}, env_file=None)
    found = caught.value.problems
    assert len(found) == 4
    message = str(caught.value)
    for name in ("APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET"):
        assert f"{name} is not set" in message


def test_missing_setting_message_says_what_to_set() -> None:
    (found,) = problems(valid(WEBHOOK_SECRET=""))
    assert found.startswith("WEBHOOK_SECRET is not set: set it to the webhook secret")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("APP_ID", "abc", "APP_ID='abc' is not a whole number."),
        ("APP_ID", "0", "APP_ID=0 is out of range: use a number from 1 upwards."),
        ("PORT", "http", "PORT='http' is not a whole number."),
        ("PORT", "70000", "PORT=70000 is out of range: use a number from 0 to 65535."),
        ("PORT", "-1", "PORT=-1 is out of range: use a number from 0 to 65535."),
    ],
)
def test_malformed_numbers_are_named_with_their_value(name: str, value: str, expected: str) -> None:
    assert problems(valid(**{name: value})) == [expected]


def test_malformed_values_are_all_reported_together() -> None:
    found = problems(
        valid(APP_ID="x", PORT="y", DRY_RUN="maybe", LOG_FORMAT="xml", LOG_LEVEL="verbose")
    )
    names = ["APP_ID", "DRY_RUN", "LOG_FORMAT", "LOG_LEVEL", "PORT"]
    assert sorted(p.split("=")[0] for p in found) == names


def test_private_key_with_escaped_newlines_is_unescaped() -> None:
    escaped = PEM.replace("\n", "\\n")
    assert "\n" not in escaped
    assert load_settings(valid(PRIVATE_KEY=escaped), env_file=None).private_key == PEM


def test_private_key_is_read_from_private_key_path(tmp_path: Path) -> None:
    key_file = tmp_path / "app.pem"
    key_file.write_text(PEM + "\n")
    environ = valid(PRIVATE_KEY="", PRIVATE_KEY_PATH=str(key_file))
    assert load_settings(environ, env_file=None).private_key == PEM + "\n"


def test_unreadable_private_key_path_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    found = problems(valid(PRIVATE_KEY="", PRIVATE_KEY_PATH=str(missing)))
    assert found == [
        f"PRIVATE_KEY_PATH={str(missing)!r} cannot be read: No such file or directory."
    ]


def test_private_key_path_that_is_a_directory_is_reported(tmp_path: Path) -> None:
    (found,) = problems(valid(PRIVATE_KEY="", PRIVATE_KEY_PATH=str(tmp_path)))
    assert found == f"PRIVATE_KEY_PATH={str(tmp_path)!r} cannot be read: Is a directory."


def test_private_key_that_is_not_pem_is_reported() -> None:
    (found,) = problems(valid(PRIVATE_KEY="not a key"))
    assert found.startswith("PRIVATE_KEY does not hold a PEM private key")
    assert "not a key" not in found


def test_env_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    escaped = PEM.replace("\n", "\\n")
    env_file.write_text(
        f'APP_ID=77\nPRIVATE_KEY="{escaped}"\nWEBHOOK_SECRET={SECRET}\nPORT=8080\nFIXER=none\n'
    )
    settings = load_settings({}, env_file=env_file)
    assert (settings.app_id, settings.port, settings.webhook_secret) == (77, 8080, SECRET)
    assert settings.private_key == PEM


def test_environment_overrides_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("APP_ID=77\nWEBHOOK_SECRET=from-file-secret\nPORT=8080\nFIXER=none\n")
    settings = load_settings({"APP_ID": "88", "PRIVATE_KEY": PEM}, env_file=env_file)
    assert (settings.app_id, settings.port) == (88, 8080)
    assert settings.webhook_secret == "from-file-secret"


def test_missing_env_file_is_not_an_error(tmp_path: Path) -> None:
    settings = load_settings(valid(), env_file=tmp_path / "absent.env")
    assert settings.app_id == 123


def test_insecure_flag_allows_a_missing_webhook_secret() -> None:
    environ = valid(WEBHOOK_SECRET="", INSECURE_ALLOW_UNSIGNED_WEBHOOKS="true")
    settings = load_settings(environ, env_file=None)
    assert settings.webhook_secret is None
    assert settings.insecure_allow_unsigned


def test_secrets_are_not_in_the_repr() -> None:
    settings = load_settings(
        valid(
            DATABASE_URL="postgresql://user:dbpassword@db/cifix",
            STATUS_TOKEN="status-token-value",
            CI_HOOK_TOKEN="ci-hook-token-value",
            ANTHROPIC_API_KEY="sk-ant-key-value",
            OPENAI_API_KEY="sk-openai-key-value",
        ),
        env_file=None,
    )
    text = repr(settings)
    assert "app_id=123" in text
    for secret in settings.secrets():
        assert secret not in text
    assert "MIIEabc" not in text
    assert len(settings.secrets()) == 8  # the database password on its own too
    assert "dbpassword" in settings.secrets()


def test_unregistered_is_true_only_without_any_app_credentials(tmp_path: Path) -> None:
    absent = tmp_path / "absent.env"
    assert unregistered({}, env_file=absent)
    assert unregistered({"PORT": "3000"}, env_file=absent)
    assert not unregistered({"APP_ID": "1"}, env_file=absent)
    env_file = tmp_path / ".env"
    env_file.write_text("WEBHOOK_SECRET=x\n")
    assert not unregistered({}, env_file=env_file)


def test_no_usable_fixer_refuses_to_start_and_says_how_to_set_one() -> None:
    (found,) = problems(valid(FIXER_COMMAND=""))
    assert found.startswith("No fixer is configured")
    for option in ("FIXER_COMMAND", "ANTHROPIC_API_KEY", "FIXER=none"):
        assert option in found


@pytest.mark.parametrize(
    ("environ", "kind"),
    [
        ({"FIXER_COMMAND": "agent"}, "command"),
        ({"FIXER_COMMAND": "", "ANTHROPIC_API_KEY": "sk-x"}, "agent"),
        ({"FIXER_COMMAND": "", "FIXER": "none"}, "none"),
        ({"FIXER": "NONE"}, "none"),
    ],
)
def test_fixer_kind_is_explicit_or_follows_what_is_configured(environ, kind) -> None:
    assert load_settings(valid(**environ), env_file=None).fixer == kind


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"FIXER": "magic"}, "FIXER='magic' is not a fixer"),
        ({"FIXER": "command", "FIXER_COMMAND": ""}, "FIXER=command but FIXER_COMMAND is not set"),
        ({"FIXER": "api"}, "FIXER=api but neither ANTHROPIC_API_KEY nor OPENAI_API_KEY"),
    ],
)
def test_inconsistent_fixer_settings_are_refused(environ, expected) -> None:
    (found,) = problems(valid(**environ))
    assert found.startswith(expected)


def test_spend_ceilings_and_the_unreported_cost_have_documented_defaults() -> None:
    settings = load_settings(valid(), env_file=None)
    assert (settings.max_loop_budget_usd, settings.max_daily_budget_usd) == (5.0, 25.0)
    assert (settings.max_iterations, settings.max_fixer_minutes) == (10, 30.0)
    assert settings.unreported_cost_usd == 0.5


def test_spend_ceilings_and_the_unreported_cost_are_read_and_checked() -> None:
    settings = load_settings(
        valid(
            MAX_LOOP_BUDGET_USD="1.5",
            MAX_DAILY_BUDGET_USD="4",
            MAX_ITERATIONS="3",
            MAX_FIXER_MINUTES="12",
            UNREPORTED_COST_USD="0.25",
        ),
        env_file=None,
    )
    assert (settings.max_loop_budget_usd, settings.max_daily_budget_usd) == (1.5, 4.0)
    assert (settings.max_iterations, settings.max_fixer_minutes) == (3, 12.0)
    assert settings.unreported_cost_usd == 0.25
    found = problems(valid(UNREPORTED_COST_USD="0", MAX_ITERATIONS="50"))
    assert "UNREPORTED_COST_USD=0 must be greater than zero." in found
    assert "MAX_ITERATIONS=50 is out of range: use a number from 1 to 20." in found
