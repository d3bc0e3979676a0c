"""The redactor removes exact secret values (and credential shapes) from outbound text."""

from __future__ import annotations

import base64

from app.core.redact import MASK, Redactor, secret_variants
from app.settings import Settings

PEM_BODY = [base64.b64encode(bytes([i]) * 48).decode() for i in range(3)]
PEM = "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *PEM_BODY, "-----END RSA PRIVATE KEY-----"])


def settings() -> Settings:
    return Settings(
        app_id=1,
        private_key=PEM,
        webhook_secret="hook-secret-without-shape",
        database_url="postgresql://app:pg-password-77@db:5432/cifix",
        status_token="status-token-plain",
        ci_hook_token="hook-token-plain",
        anthropic_api_key="model-key-plain-1234",
    )


def test_every_configured_secret_value_is_removed_even_without_a_token_shape() -> None:
    s = settings()
    redact = Redactor(s.secrets())
    env_dump = (
        f"WEBHOOK_SECRET={s.webhook_secret}\nSTATUS_TOKEN={s.status_token}\n"
        f"CI_HOOK_TOKEN={s.ci_hook_token}\nANTHROPIC_API_KEY={s.anthropic_api_key}\n"
        f"DATABASE_URL={s.database_url}\nPGPASSWORD=pg-password-77\n"
    )
    out = redact(env_dump)
    for value in [*s.secrets(), "pg-password-77"]:
        assert value not in out
    assert out.count(MASK) == 6
    assert "WEBHOOK_SECRET=" in out  # the names stay: a reader sees what was removed


def test_a_partial_dump_of_the_private_key_is_removed_line_by_line() -> None:
    redact = Redactor(settings().secrets())
    out = redact(f"key line: {PEM_BODY[1]} and {PEM_BODY[2]}")
    assert PEM_BODY[1] not in out and PEM_BODY[2] not in out


def test_percent_encoded_secrets_are_removed_too() -> None:
    redact = Redactor(["p@ss word/with:specials"])
    assert "p%40ss%20word%2Fwith%3Aspecials" not in redact("url: p%40ss%20word%2Fwith%3Aspecials")


def test_live_tokens_are_removed_once_added_and_shapes_without_being_told() -> None:
    redact = Redactor()
    redact.add("v1.live-installation-token-without-prefix")
    token = "ghs_abcdefghijklmnopqrstuvwxyz012345"
    out = redact(f"a v1.live-installation-token-without-prefix b {token}")
    assert out == f"a {MASK} b {MASK}"


def test_values_too_short_to_redact_safely_are_ignored() -> None:
    assert secret_variants("short") == set()
    assert Redactor(["abc"])("abcdef") == "abcdef"


def test_json_data_is_redacted_value_by_value_and_keys_are_kept() -> None:
    redact = Redactor(["the-secret-value"])
    data = {"body": "x the-secret-value y", "labels": ["the-secret-value"], "n": 3}
    assert redact.data(data) == {"body": f"x {MASK} y", "labels": [MASK], "n": 3}


def test_contains_secret_finds_exact_values_only() -> None:
    redact = Redactor(["the-secret-value"])
    assert redact.contains_secret(b"print('the-secret-value')")
    assert not redact.contains_secret(b"ghs_abcdefghijklmnopqrstuvwxyz012345")


def test_the_private_key_rewrapped_on_one_line_is_removed() -> None:
    redact = Redactor(settings().secrets())
    one_line = "".join(PEM_BODY)
    out = redact(f"key={one_line[5:120]}")
    longest_left = max(len(part) for part in out.split(MASK))
    assert longest_left < 48  # no run long enough to matter survives


def test_a_percent_encoded_database_password_is_removed_decoded_too() -> None:
    s = Settings(app_id=1, private_key=PEM, webhook_secret=None,
                 database_url="postgresql://app:p%40ss-word-1@db/x")  # fmt: skip
    out = Redactor(s.secrets())("FATAL: password p@ss-word-1 and p%40ss-word-1 rejected")
    assert "p@ss-word-1" not in out and "p%40ss-word-1" not in out
