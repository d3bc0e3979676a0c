"""Reading `.github/ci-fix-loop.yml` through the contents API of the fake GitHub.

Covers the repository file, the organization fallback, ``_extends`` chains with
their merge, cycles and depth, invalid files reported as problems, and the
rule that only a 404 means "no config".
"""

from __future__ import annotations

from typing import Any

import gidgethub
import pytest

from app.config.model import ALWAYS_FORBIDDEN, CONFIG_PATH, RepoConfig
from app.config.schema import ConfigProblem
from app.config.source import ConfigLoad, load_repo_config, render_config_problems
from tests.support import installation_client

INSTALLATION = 7


@pytest.fixture
def fake(fake_github: Any) -> Any:
    fake_github.add_installation(INSTALLATION, "acme")
    return fake_github


def add(fake: Any, full_name: str, config: str | None = None) -> None:
    files = {"README.md": "hello\n"}
    if config is not None:
        files[CONFIG_PATH] = config
    fake.add_repo(full_name, files=files, installation_id=INSTALLATION)


async def load(fake: Any, repo: str = "app", **kwargs: Any) -> ConfigLoad:
    async with installation_client(fake, INSTALLATION) as gh:
        return await load_repo_config(gh, owner="acme", repo=repo, **kwargs)


async def test_the_repositorys_own_file_is_read(fake: Any) -> None:
    add(fake, "acme/app", "max_iterations: 3\nbranches: [main, dev]\n")
    add(fake, "acme/.github", "max_iterations: 9\n")

    loaded = await load(fake)

    assert loaded.ok
    assert loaded.source == "acme/app:.github/ci-fix-loop.yml"
    assert loaded.config.max_iterations == 3
    assert loaded.config.branches == ("main", "dev")
    assert fake.calls("GET", "/repos/acme/app/contents/.github/ci-fix-loop.yml")
    assert not fake.calls("GET", "/repos/acme/.github/*")


async def test_the_file_is_read_at_the_requested_ref(fake: Any) -> None:
    add(fake, "acme/app", "max_iterations: 3\n")
    fake.commit("acme/app", "feature", {CONFIG_PATH: "max_iterations: 4\n"})

    assert (await load(fake, ref="feature")).config.max_iterations == 4
    assert (await load(fake)).config.max_iterations == 3


async def test_the_organization_default_applies_when_the_repo_has_none(fake: Any) -> None:
    add(fake, "acme/app")
    add(fake, "acme/.github", "dry_run: true\n")

    loaded = await load(fake)

    assert loaded.ok
    assert loaded.source == "acme/.github:.github/ci-fix-loop.yml"
    assert loaded.config.dry_run is True


async def test_no_file_anywhere_means_all_defaults(fake: Any) -> None:
    add(fake, "acme/app")

    loaded = await load(fake)

    assert loaded == ConfigLoad(config=RepoConfig(), source=None, problems=[])


async def test_extends_merges_mappings_and_replaces_lists(fake: Any) -> None:
    add(
        fake,
        "acme/app",
        "_extends: base\nbranches: [release]\nguard:\n  max_files: 3\n",
    )
    add(
        fake,
        "acme/base",
        "max_iterations: 7\nbranches: [main, dev]\n"
        "guard:\n  max_changed_lines: 50\n  max_files: 9\n  forbidden_paths: [docs/**]\n",
    )

    loaded = await load(fake)

    assert loaded.ok, loaded.problems
    assert (
        loaded.source
        == "acme/app:.github/ci-fix-loop.yml extends acme/base:.github/ci-fix-loop.yml"
    )
    config = loaded.config
    assert config.max_iterations == 7
    assert config.branches == ("release",)
    assert config.guard.max_files == 3
    assert config.guard.max_changed_lines == 50
    assert config.guard.forbidden_paths == (*ALWAYS_FORBIDDEN, "docs/**")


async def test_extends_accepts_owner_slash_repo_and_dot_github_chains(fake: Any) -> None:
    add(fake, "acme/app", "_extends: acme/shared\nmax_iterations: 2\n")
    add(fake, "acme/shared", "_extends: .github\nbudget:\n  per_loop_usd: 1\n")
    add(fake, "acme/.github", "budget:\n  per_day_usd: 3\n  per_loop_usd: 0.5\ndry_run: true\n")

    loaded = await load(fake)

    assert loaded.ok, loaded.problems
    assert loaded.config.max_iterations == 2
    assert loaded.config.budget.per_loop_usd == 1.0
    assert loaded.config.budget.per_day_usd == 3.0
    assert loaded.config.dry_run is True
    assert loaded.source is not None and loaded.source.count(" extends ") == 2


async def test_an_extends_cycle_is_reported_not_followed(fake: Any) -> None:
    add(fake, "acme/app", "_extends: a\n")
    add(fake, "acme/a", "_extends: b\n")
    add(fake, "acme/b", "_extends: acme/A\n")

    loaded = await load(fake)

    [problem] = loaded.problems
    assert problem.key_path == "_extends"
    assert "cycle: acme/app -> acme/a -> acme/b -> acme/A" in str(problem)
    assert loaded.config.enabled is False
    assert loaded.source == "acme/b:.github/ci-fix-loop.yml"


async def test_extends_chains_stop_after_three_levels(fake: Any) -> None:
    add(fake, "acme/app", "_extends: l1\n")
    for level in range(1, 5):
        add(fake, f"acme/l{level}", f"_extends: l{level + 1}\n")
    add(fake, "acme/l5", "max_iterations: 2\n")

    loaded = await load(fake)

    [problem] = loaded.problems
    assert "too deep" in str(problem)
    assert "at most 3 levels" in str(problem)


async def test_an_extends_target_without_config_is_a_problem(fake: Any) -> None:
    add(fake, "acme/app", "_extends: nowhere\n")

    loaded = await load(fake)

    [problem] = loaded.problems
    assert problem.key_path == "_extends"
    assert "acme/nowhere has no readable .github/ci-fix-loop.yml" in str(problem)


@pytest.mark.parametrize("value", ["a/b/c", "acme/", "[x]"])
async def test_a_malformed_extends_value_is_a_problem(fake: Any, value: str) -> None:
    add(fake, "acme/app", f"_extends: '{value}'\n")

    loaded = await load(fake)

    [problem] = loaded.problems
    assert problem.key_path == "_extends"
    assert "'owner/repo'" in str(problem)
    assert not fake.calls("GET", "/repos/acme/[!a]*")  # nothing fetched but acme/app


async def test_a_base_that_is_not_a_mapping_is_a_problem(fake: Any) -> None:
    add(fake, "acme/app", "_extends: base\n")
    add(fake, "acme/base", "- just\n- a list\n")

    loaded = await load(fake)

    assert loaded.source == "acme/base:.github/ci-fix-loop.yml"
    assert str(loaded.problems[0]).startswith('(top level): ["just", "a list"] is not valid')


async def test_invalid_config_disables_the_app_and_lists_every_problem(fake: Any) -> None:
    add(fake, "acme/app", "_extends: base\nguard:\n  max_files: ten\n")
    add(fake, "acme/base", "max_iteration: 3\n")

    loaded = await load(fake)

    assert not loaded.ok
    assert loaded.config == RepoConfig(enabled=False)
    assert sorted(p.key_path for p in loaded.problems) == ["guard.max_files", "max_iteration"]
    text = render_config_problems(loaded.problems, loaded.source)
    assert "`guard.max_files`" in text
    assert '"ten" is not valid; expected an integer from 1 to 100' in text
    assert 'did you mean "max_iterations"' in text
    assert "acme/app:.github/ci-fix-loop.yml extends acme/base" in text


async def test_a_yaml_error_in_a_base_names_that_file(fake: Any) -> None:
    add(fake, "acme/app", "_extends: base\n")
    add(fake, "acme/base", "guard: [\n")

    loaded = await load(fake)

    assert loaded.source == "acme/base:.github/ci-fix-loop.yml"
    assert "YAML syntax error at line 2" in str(loaded.problems[0])


async def test_a_fixer_command_is_refused_unless_the_operator_allows_it(fake: Any) -> None:
    add(fake, "acme/app", "fixer:\n  command: my-agent --yolo\n")

    assert [p.key_path for p in (await load(fake)).problems] == ["fixer.command"]
    allowed = await load(fake, allow_fixer_command=True)
    assert allowed.config.fixer.command == "my-agent --yolo"


async def test_errors_other_than_404_propagate(fake: Any) -> None:
    add(fake, "acme/app")
    fake.inject("GET", f"/repos/acme/app/contents/{CONFIG_PATH}", status=500, times=5)

    with pytest.raises(gidgethub.GitHubBroken):
        await load(fake)


def test_rendered_problems_neutralise_markdown_from_the_file() -> None:
    problem = ConfigProblem("escalation.labels[0]", "@team", '"@team <b>" is not valid', "x")
    text = render_config_problems([problem], None)
    assert "`.github/ci-fix-loop.yml` has 1 problem," in text
    assert "@\u200bteam" in text
    assert "<b>" not in text


def test_a_problem_stays_on_its_own_line_whatever_the_key_holds() -> None:
    # YAML allows any string as a key, blank lines and backticks included.
    key = "x`\n\n@team **bold**"
    problem = ConfigProblem(key, 1, "unknown key", "one of enabled")
    text = render_config_problems([problem, problem], None)
    items = [line for line in text.splitlines() if line.startswith("- ")]
    assert items == ["- ``x` @team **bold**``: unknown key; expected one of enabled"] * 2
