"""A push that changes the config on the default branch is checked at once, on that commit."""

from __future__ import annotations

from typing import Any

from tests.harness import INSTALLATION_ID, REPO, Harness, HarnessFactory
from tests.webhooks import load_payload

CONFIG = ".github/ci-fix-loop.yml"


def push_payload(harness: Harness, after: str, *, ref: str = "refs/heads/main") -> dict[str, Any]:
    """GitHub's push payload (a real one, re-pointed at the fake's repository and commit)."""
    payload = load_payload("push", "event.5")
    payload["ref"] = ref
    payload["after"] = after
    payload["installation"] = {"id": INSTALLATION_ID, "node_id": "MDIz"}
    repository = payload["repository"]
    repository["full_name"] = REPO
    repository["name"] = REPO.split("/")[1]
    repository["default_branch"] = "main"
    payload["commits"][0]["modified"] = [CONFIG]
    payload["commits"][0]["id"] = after
    return payload


async def test_an_invalid_config_pushed_to_main_fails_a_check_with_line_numbers(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness(fixer="none")
    harness.seed_repo({"README.md": "hi\n"})
    after = harness.fake.commit(
        REPO, "main", {CONFIG: "branches: [main, 'release/*']\nguard:\n  max_files: ten\n"}
    )
    await harness.deliver("push", push_payload(harness, after))

    [check] = harness.fake.check_runs(REPO)
    assert (check.name, check.head_sha, check.conclusion) == (
        "CI Fix Loop config",
        after,
        "failure",
    )
    assert check.output["title"] == ".github/ci-fix-loop.yml is invalid (1 problem(s))"
    assert "`guard.max_files` (line 3, column 3):" in check.output["summary"]
    assert "release/*" not in check.output["summary"]  # branch globs are accepted


async def test_a_valid_config_gets_a_green_check(app_harness: HarnessFactory) -> None:
    harness = await app_harness(fixer="none")
    harness.seed_repo({"README.md": "hi\n"})
    after = harness.fake.commit(REPO, "main", {CONFIG: "max_iterations: 3\n"})
    await harness.deliver("push", push_payload(harness, after))

    [check] = harness.fake.check_runs(REPO)
    assert (check.head_sha, check.conclusion) == (after, "success")
    assert check.output["title"] == ".github/ci-fix-loop.yml is valid"


async def test_pushes_elsewhere_or_without_the_config_are_not_checked(
    app_harness: HarnessFactory,
) -> None:
    harness = await app_harness(fixer="none")
    harness.seed_repo({"README.md": "hi\n"})
    after = harness.fake.commit(REPO, "feature", {CONFIG: "max_iterations: 99\n"})
    await harness.deliver("push", push_payload(harness, after, ref="refs/heads/feature"))
    other = push_payload(harness, harness.fake.commit(REPO, "main", {"a.txt": "a\n"}))
    other["commits"][0]["modified"] = ["a.txt"]
    await harness.deliver("push", other)
    assert harness.fake.check_runs(REPO) == []
