"""What the operator and repository admins see, end to end through the running app.

Installation lifecycle, dry run, repository config (invalid, org-wide, ``_extends``),
``/metrics``, ``/status`` and structured logs: real webhooks in, the fake GitHub (checked
against the OpenAPI description) out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.admin.status import build_status
from app.core.logctx import configure_logging
from app.store.records import LoopState
from tests.harness import INSTALLATION_ID, REPO, Harness, HarnessFactory
from tests.scenarios import (
    CALC,
    TEST_CALC,
    ci_on_fix_branch,
    only_loop,
    pytest_log,
    scripted_agent,
)
from tests.webhooks import load_payload

FILES = {"calc.py": CALC, "tests/test_calc.py": TEST_CALC}
FIXED = {"files": {"calc.py": "def add(a, b):\n    return a + b\n"}, "cost": 0.10}
CONFIG_PATH = ".github/ci-fix-loop.yml"


async def fail_ci(
    harness: Harness, head: str, *, workflow_id: int = 1, branch: str = "main"
) -> dict[str, Any]:
    run = harness.failing_run(
        head, log=pytest_log("assert 0 == 4"), workflow_id=workflow_id, branch=branch
    )
    await harness.deliver("workflow_run", harness.payload(run))
    return run


def writes(harness: Harness) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in harness.fake.requests if r.method != "GET"]


def repo_ref(full_name: str) -> dict[str, Any]:
    name = full_name.split("/")[1]
    return {
        "id": 186853007,
        "node_id": "R_x",
        "name": name,
        "full_name": full_name,
        "private": False,
    }


def installation_event(action: str, **changes: Any) -> dict[str, Any]:
    """A real ``installation.<action>`` payload, moved to our installation and account."""
    payload = load_payload("installation", f"{action}.1")
    payload["installation"] = {**payload["installation"], "id": INSTALLATION_ID}
    payload["installation"]["account"] = {**payload["installation"]["account"], "login": "acme"}
    payload.update(changes)
    return payload


def repositories_event(action: str, *, added: list[str], removed: list[str]) -> dict[str, Any]:
    payload = load_payload("installation_repositories", f"{action}.1")
    payload["installation"] = {**payload["installation"], "id": INSTALLATION_ID}
    payload["repositories_added"] = [repo_ref(name) for name in added]
    payload["repositories_removed"] = [repo_ref(name) for name in removed]
    return payload


async def install(harness: Harness) -> None:
    payload = installation_event("created", repositories=[repo_ref(REPO)])
    await harness.deliver("installation", payload)


# ------------------------------------------------------------ installations


async def test_installation_created_is_stored_with_its_repositories(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    await install(harness)
    assert await harness.ctx.store.installations() == [(INSTALLATION_ID, "acme", False)]
    assert await harness.ctx.store.installation_repos(INSTALLATION_ID) == [REPO]


async def test_repositories_added_are_stored_and_removed_ones_lose_their_loops(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, [FIXED]))
    await install(harness)
    await fail_ci(harness, harness.seed_repo(FILES))
    assert (await only_loop(harness)).state is LoopState.AWAITING_CI

    added = repositories_event("added", added=["acme/gadgets"], removed=[])
    await harness.deliver("installation_repositories", added)
    assert sorted(await harness.ctx.store.installation_repos(INSTALLATION_ID)) == [
        "acme/gadgets",
        REPO,
    ]
    removed = repositories_event("removed", added=[], removed=[REPO])
    await harness.deliver("installation_repositories", removed)
    assert await harness.ctx.store.installation_repos(INSTALLATION_ID) == ["acme/gadgets"]
    loop = await only_loop(harness)
    assert loop.state is LoopState.CANCELLED
    assert loop.reason == "The repository was removed from the installation"


async def test_installation_deleted_cancels_its_loops_and_drops_its_token(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, [FIXED]))
    await install(harness)
    await fail_ci(harness, harness.seed_repo(FILES))
    assert (await only_loop(harness)).state is LoopState.AWAITING_CI
    auth = harness.ctx.clients.auth
    minted = harness.fake.token_requests[INSTALLATION_ID]
    await auth.installation_token(INSTALLATION_ID)
    assert harness.fake.token_requests[INSTALLATION_ID] == minted  # cached while installed

    seen = len(harness.fake.requests)
    await harness.deliver("installation", installation_event("deleted"))

    loop = await only_loop(harness)
    assert loop.state is LoopState.CANCELLED
    assert loop.reason == "The App was uninstalled"
    assert await harness.ctx.store.installations() == []
    assert harness.fake.requests[seen:] == []  # nothing more is sent for an uninstalled App
    await auth.installation_token(INSTALLATION_ID)
    assert harness.fake.token_requests[INSTALLATION_ID] == minted + 1  # the cache was dropped


# ------------------------------------------------------------------- dry run


@pytest.mark.parametrize(
    ("settings", "config"),
    [({"dry_run": True}, None), ({}, "dry_run: true\n")],
    ids=["DRY_RUN setting", "repo config dry_run"],
)
async def test_dry_run_diagnoses_and_records_but_writes_only_check_runs(
    app_harness: HarnessFactory, tmp_path: Path, settings: dict[str, Any], config: str | None
) -> None:
    plan = tmp_path / "plan.json"
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, [FIXED]), **settings)
    await fail_ci(harness, harness.seed_repo(FILES, config=config))

    loop = await only_loop(harness)
    assert loop.state is LoopState.CANCELLED
    assert loop.reason is not None and loop.reason.startswith("Dry run")
    assert "test failure" in loop.reason
    assert (loop.diagnosis or {}).get("category") == "test"
    events = [e.kind for e in await harness.ctx.store.events(loop.id)]
    assert "diagnosed" in events and "dry_run" in events
    assert not plan.with_suffix(".count").exists()  # the fixer never ran
    for method, path in writes(harness):
        allowed = (
            path == f"/app/installations/{INSTALLATION_ID}/access_tokens"
            or path == f"/repos/{REPO}/check-runs"
            or (method == "PATCH" and path.startswith(f"/repos/{REPO}/check-runs/"))
        )
        assert allowed, (method, path)
    [check] = harness.fake.check_runs(REPO)
    assert check.conclusion == "neutral"
    assert harness.fake.pulls(REPO) == [] and harness.fake.issues(REPO) == []


# ------------------------------------------------------------ repository config


async def test_invalid_config_opens_no_loop_and_fails_a_check_naming_key_value_and_allowed(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    head = harness.seed_repo(FILES, config="max_iterations: lots\nfrobnicate: 1\n")
    await fail_ci(harness, head)

    assert await harness.ctx.store.recent_loops() == []
    [check] = harness.fake.check_runs(REPO)
    assert (check.name, check.head_sha, check.conclusion) == ("CI Fix Loop", head, "failure")
    summary = check.output["summary"]
    assert (
        '`max_iterations` (line 1, column 1): "lots" is not valid; expected an integer from 1 to 20'
        in summary
    )
    assert (
        "`frobnicate` (line 2, column 1): unknown key; expected one of _extends, enabled, branches"
        in summary
    )
    assert "2 problem" in check.output["title"]
    # The repository is listed as paused until the file is fixed.
    [pause] = await harness.ctx.store.config_pauses()
    assert pause.repo == REPO and len(pause.problems) == 2


async def test_org_wide_config_applies_when_the_repo_has_none(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    harness.fake.add_repo(
        "acme/.github", files={CONFIG_PATH: "enabled: false\n"}, installation_id=INSTALLATION_ID
    )
    await fail_ci(harness, harness.seed_repo(FILES))

    assert await harness.ctx.store.recent_loops() == []
    assert harness.fake.check_runs(REPO) == []
    assert [w for w in writes(harness) if not w[1].endswith("/access_tokens")] == []
    config_reads = [r.path for r in harness.fake.calls("GET", "*/contents/*")]
    assert f"/repos/acme/.github/contents/{CONFIG_PATH}" in config_reads


async def test_repo_config_wins_over_the_org_wide_one(app_harness: HarnessFactory) -> None:
    harness = await app_harness()
    harness.fake.add_repo(
        "acme/.github", files={CONFIG_PATH: "enabled: false\n"}, installation_id=INSTALLATION_ID
    )
    await fail_ci(harness, harness.seed_repo(FILES, config="dry_run: true\n"))
    loop = await only_loop(harness)
    assert loop.reason is not None and loop.reason.startswith("Dry run")


async def test_extends_layers_the_repo_config_over_a_shared_one(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    harness.fake.add_repo(
        "acme/ci-settings",
        installation_id=INSTALLATION_ID,
        files={CONFIG_PATH: "dry_run: true\nmax_iterations: 2\n"},
    )
    config = "_extends: ci-settings\nmax_iterations: 4\n"
    await fail_ci(harness, harness.seed_repo(FILES, config=config))

    loop = await only_loop(harness)
    assert loop.reason is not None
    assert loop.reason.startswith("Dry run")  # from the shared config
    assert loop.reason.endswith("up to 4 iterations")  # the repo's own value wins


async def test_extends_to_a_missing_config_fails_the_check_naming_extends(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness()
    head = harness.seed_repo(FILES, config="_extends: nowhere\n")
    await fail_ci(harness, head)
    assert await harness.ctx.store.recent_loops() == []
    [check] = harness.fake.check_runs(REPO)
    assert check.conclusion == "failure"
    assert "`_extends`" in check.output["summary"]
    assert "acme/nowhere has no readable" in check.output["summary"]


# -------------------------------------------------------------------- metrics


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_after_a_successful_loop_count_deliveries_loops_calls_and_spend(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, [FIXED]))
    await fail_ci(harness, harness.seed_repo(FILES))
    await ci_on_fix_branch(harness, await only_loop(harness), "success")
    assert (await only_loop(harness)).state is LoopState.SUCCEEDED

    response = await harness.client.get("/metrics")
    assert response.status == 200
    values = samples(await response.text())

    def value(name: str, **labels: str) -> float:
        return values[(name, tuple(sorted(labels.items())))]

    assert value("cifix_deliveries_total", event="workflow_run", outcome="processed") == 2
    assert value("cifix_loops_opened_total") == 1
    assert value("cifix_loops_ended_total", state="succeeded") == 1
    assert value("cifix_fix_rate") == 1.0
    assert value("cifix_spend_usd") == pytest.approx(0.10)  # from the store
    assert value("cifix_cost_per_fixed_run_usd_sum") == pytest.approx(0.10)
    assert value("cifix_loop_iterations_sum") == 1
    # Every REST call the fake saw is counted once (token minting is the App's, not a
    # REST call); config lookups found no file (404) and logs/tarballs were redirects.
    api = [r for r in harness.fake.requests if not r.path.endswith("/access_tokens")]
    calls = {
        labels: count
        for (name, labels), count in values.items()
        if name == "cifix_github_api_calls_total"
    }
    for method in ("GET", "POST", "PATCH"):
        counted = sum(n for labels, n in calls.items() if ("method", method) in labels)
        assert counted == sum(1 for r in api if r.method == method) > 0, method
    config_reads = [r for r in api if "/contents/" in r.path]
    redirects = [r for r in api if r.path.endswith("/logs") or "/tarball/" in r.path]
    assert value("cifix_github_api_calls_total", method="GET", status="4xx") == len(config_reads)
    assert value("cifix_github_api_calls_total", method="GET", status="3xx") == len(redirects)
    assert value("cifix_github_rate_limit_remaining") > 0


# --------------------------------------------------------------------- status


async def test_status_shows_active_loops_history_budget_and_breakers(
    app_harness: HarnessFactory, tmp_path: Path
) -> None:
    steps = [
        FIXED,
        {**FIXED, "cost": 0.20},
        {"files": {}, "say": "ESCALATE: needs a product decision", "cost": 0.05},
    ]
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, steps), breaker_threshold=1)
    await install(harness)
    # Three loops at once: one per failing commit and branch.
    head = harness.seed_repo(FILES, config="branches: [main, two, three]\n")
    await fail_ci(harness, head, workflow_id=1)
    await ci_on_fix_branch(harness, (await harness.ctx.store.recent_loops())[0], "success")
    two = harness.fake.commit(REPO, "two", {"two.txt": "2\n"})
    await fail_ci(harness, two, workflow_id=2, branch="two")  # stays awaiting CI
    three = harness.fake.commit(REPO, "three", {"three.txt": "3\n"})
    await fail_ci(harness, three, workflow_id=3, branch="three")  # escalates: breaker opens

    status = await build_status(harness.ctx.store, harness.settings, harness.ctx.clock())
    served = await harness.client.get(
        "/status", headers={"Authorization": f"Bearer {harness.settings.status_token}"}
    )
    assert served.status == 200
    assert await served.json() == json.loads(json.dumps(status))
    assert (await harness.client.get("/status")).status == 401

    [active] = status["active"]
    assert (active["state"], active["iterations"], active["cost_usd"]) == ("awaiting_ci", 1, 0.2)
    assert active["pull_request"] is not None
    assert [(h["state"], h["cost_usd"]) for h in status["history"]] == [
        ("escalated", 0.05),
        ("succeeded", 0.1),
    ]
    assert status["history"][0]["issue"] is not None
    budget = status["budget"]
    assert budget["spend_today_usd"] == pytest.approx(0.35)
    assert budget["installations"] == [
        {"id": INSTALLATION_ID, "account": "acme", "suspended": False, "spend_today_usd": 0.35}
    ]
    [breaker] = status["breakers"]
    assert (breaker["repo"], breaker["consecutive_failures"], breaker["open"]) == (REPO, 1, True)
    assert status["loops_by_state"] == {"awaiting_ci": 1, "escalated": 1, "succeeded": 1}


# ----------------------------------------------------------------------- logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``configure_logging`` replaces the root handlers; put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_json_logs_carry_delivery_repo_and_loop_and_never_a_secret(
    app_harness: HarnessFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    harness = await app_harness(fixer_command=scripted_agent(tmp_path, [FIXED]), log_format="json")
    settings = harness.settings
    configure_logging(fmt=settings.log_format, level="DEBUG", secrets=settings.secrets())
    capsys.readouterr()
    head = harness.seed_repo(FILES)
    run = harness.failing_run(head, log=pytest_log("assert 0 == 4"))
    await harness.deliver("workflow_run", harness.payload(run), delivery_id="delivery-log-1")
    loop = await only_loop(harness)
    assert loop.state is LoopState.AWAITING_CI
    err = capsys.readouterr().err

    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    assert all(
        {"time", "level", "logger", "message", "delivery_id", "repo", "loop_id"} <= set(x)
        for x in lines
    )
    ours = [x for x in lines if x["delivery_id"] == "delivery-log-1"]
    assert ours and all(x["repo"] == REPO for x in ours)
    assert any(x["loop_id"] == loop.id and x["repo"] == REPO for x in lines)

    tokens = list(harness.fake.tokens)
    assert tokens, "the app never got an installation token"
    key_body = "".join(settings.private_key.strip().splitlines()[1:-1])
    others = [settings.webhook_secret, settings.status_token, settings.ci_hook_token]
    for secret in [*tokens, *others, key_body[:64], key_body[-64:]]:
        assert secret and secret not in err
