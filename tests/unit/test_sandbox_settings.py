"""The operator's sandbox settings: what the jail allows, decided from the environment."""

from __future__ import annotations

import pytest

from app.core.errors import SettingsError
from app.fix.egress import Endpoint
from app.fix.sandbox import DEFAULT_AGENT_ENDPOINTS, Sandbox, SandboxMode
from app.settings import load_settings

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----"


def env(**more: str) -> dict[str, str]:
    return {"APP_ID": "1", "PRIVATE_KEY": PEM, "WEBHOOK_SECRET": "s" * 20, "FIXER": "none", **more}


def problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ, env_file=None)
    return caught.value.problems


def test_the_jail_is_the_default_and_verify_gets_no_network() -> None:
    sandbox = Sandbox.from_settings(load_settings(env(), env_file=None))
    assert sandbox.mode is SandboxMode.BWRAP
    assert not sandbox.allow_network
    assert sandbox.agent_endpoints == tuple(sorted(DEFAULT_AGENT_ENDPOINTS))


def test_no_sandbox_is_refused_unless_the_operator_says_insecure() -> None:
    [problem] = problems(env(SANDBOX="none"))
    assert "INSECURE_NO_SANDBOX=1" in problem
    settings = load_settings(env(SANDBOX="none", INSECURE_NO_SANDBOX="1"), env_file=None)
    assert Sandbox.from_settings(settings).mode is SandboxMode.NONE
    assert "'bwrap'" in problems(env(SANDBOX="docker"))[0]


def test_the_agent_reaches_the_configured_model_hosts_and_the_allow_list_only() -> None:
    settings = load_settings(
        env(
            ANTHROPIC_BASE_URL="http://127.0.0.1:8080/",
            OPENAI_BASE_URL="https://llm.example.com/v1",
            SANDBOX_AGENT_HOSTS="gateway.internal:8443, https://api.anthropic.com",
        ),
        env_file=None,
    )
    assert set(Sandbox.from_settings(settings).agent_endpoints) == {
        Endpoint("127.0.0.1", 8080),
        Endpoint("llm.example.com", 443),
        Endpoint("gateway.internal", 8443),
        Endpoint("api.anthropic.com", 443),
    }


def test_bad_allow_list_entries_and_privileged_loopback_ports_are_refused() -> None:
    found = problems(env(SANDBOX_AGENT_HOSTS="no-port,127.0.0.1:80", SANDBOX_READONLY_PATHS="opt"))
    assert any("'no-port' is not host:port" in p for p in found)
    assert any("127.0.0.1:80 needs a port from 1024" in p for p in found)
    assert any("SANDBOX_READONLY_PATHS: 'opt'" in p for p in found)


def test_limits_come_from_the_settings() -> None:
    settings = load_settings(
        env(SANDBOX_MEMORY_MB="512", SANDBOX_MAX_PROCESSES="64", SANDBOX_CPU_SECONDS="60"),
        env_file=None,
    )
    limits = Sandbox.from_settings(settings).limits
    assert (limits.memory_bytes, limits.processes, limits.cpu_seconds) == (512 << 20, 64, 60)
