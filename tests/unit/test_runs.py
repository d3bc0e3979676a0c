"""RunFacts: the facts a loop needs, read once from GitHub's own ``workflow_run`` examples."""

from __future__ import annotations

from typing import Any

import pytest

from app.intake.payloads import RunFacts
from app.store.records import LoopKey
from tests.webhooks import load_payload

INSTALLATION_ID = 4242


def delivery(name: str = "completed.success.2", **run_changes: Any) -> dict[str, Any]:
    """GitHub's example with the installation block every App delivery carries."""
    payload = load_payload("workflow_run", name)
    payload["installation"] = {"id": INSTALLATION_ID, "node_id": "I_x"}
    payload["workflow_run"].update(run_changes)
    return payload


def test_facts_are_read_from_a_completed_run() -> None:
    facts = RunFacts.from_payload(delivery(conclusion="failure"))
    assert facts == RunFacts(
        installation_id=INSTALLATION_ID,
        repo="octo-org/octo-repo",
        default_branch="master",
        head_repo="octo-org/octo-repo",
        workflow_id=2823525,
        workflow_name="test",  # the run's name is empty: the workflow's is used
        workflow_path=".github/workflows/test.yml",
        run_id=289782451,
        run_attempt=1,
        run_url="https://github.com/octo-org/octo-repo/actions/runs/289782451",
        head_branch="master",
        head_sha="3484a3fb816e0859fd6e1cea078d76385ff50625",
        status="completed",
        conclusion="failure",
        event="repository_dispatch",
        run_number=163,
        created_at=1601915604.0,  # 2020-10-05T16:33:24Z
    )


def test_run_from_the_same_repository_is_not_from_a_fork() -> None:
    facts = RunFacts.from_payload(delivery())
    assert facts is not None and not facts.from_fork


def test_run_whose_head_repository_differs_is_from_a_fork() -> None:
    facts = RunFacts.from_payload(delivery("completed.1"))
    assert facts is not None
    assert facts.repo == "Codertocat/Hello-World"
    assert facts.head_repo == "octo-org/octo-repo"
    assert facts.from_fork


def test_fork_detection_ignores_letter_case() -> None:
    payload = delivery()
    payload["workflow_run"]["head_repository"]["full_name"] = "OCTO-ORG/Octo-Repo"
    facts = RunFacts.from_payload(payload)
    assert facts is not None and not facts.from_fork


@pytest.mark.parametrize("head_repository", [None, {}, {"full_name": None}, "octo-org/octo-repo"])
def test_an_unknown_head_repository_counts_as_a_fork(head_repository: Any) -> None:
    facts = RunFacts.from_payload(delivery(head_repository=head_repository))
    assert facts is not None and facts.head_repo is None
    assert facts.from_fork  # fails closed: an unknown origin is not trusted as our own


def test_run_time_without_a_zone_is_read_as_utc() -> None:
    facts = RunFacts.from_payload(delivery(created_at="2020-09-22T21:42:41"))
    assert facts is not None and facts.created_at == 1600810961.0


def test_workflow_path_falls_back_to_the_workflow_block() -> None:
    facts = RunFacts.from_payload(delivery("completed.1"))
    assert facts is not None
    assert facts.workflow_name == "Manually triggered workflow"
    assert facts.workflow_path == ".github/workflows/syntax.yml"


def test_incomplete_run_has_empty_conclusion() -> None:
    facts = RunFacts.from_payload(delivery("requested.1"))
    assert facts is not None and facts.status == "queued" and facts.conclusion == ""


def test_key_and_new_loop_identify_the_failing_commit() -> None:
    facts = RunFacts.from_payload(delivery(conclusion="failure"))
    assert facts is not None
    assert facts.key == LoopKey("octo-org/octo-repo", 2823525, facts.head_sha)
    new = facts.new_loop()
    assert new.key == facts.key
    assert new.installation_id == INSTALLATION_ID
    assert new.fix_branch == "ci-fix/289782451"
    assert (new.branch, new.run_id, new.workflow_name) == ("master", 289782451, "test")


@pytest.mark.parametrize(
    "name",
    ["completed.1", "completed.success.2", "completed.success.3", "requested.1",
     "requested.action_required.2"],
)  # fmt: skip
def test_payload_without_installation_gives_none(name: str) -> None:
    assert RunFacts.from_payload(load_payload("workflow_run", name)) is None


def test_payload_with_null_installation_gives_none() -> None:
    payload = delivery()
    payload["installation"] = None
    assert RunFacts.from_payload(payload) is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.pop("workflow_run"),
        lambda p: p.pop("repository"),
        lambda p: p["workflow_run"].pop("head_sha"),
        lambda p: p["workflow_run"].pop("id"),
        lambda p: p["workflow_run"].update(workflow_id="not a number"),
        lambda p: p["workflow_run"].update(run_attempt="x"),
        lambda p: p["installation"].update(id=None),
        lambda p: p.update(workflow_run=[]),
        lambda p: p.update(repository="octo-org/octo-repo"),
    ],
    ids=[
        "no-run", "no-repository", "no-head-sha", "no-run-id", "workflow-id-not-int",
        "run-attempt-not-int", "installation-id-null", "run-is-a-list", "repository-is-a-string",
    ],
)  # fmt: skip
def test_malformed_payload_gives_none(damage: Any) -> None:
    payload = delivery()
    damage(payload)
    assert RunFacts.from_payload(payload) is None
