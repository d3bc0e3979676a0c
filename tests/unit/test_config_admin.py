"""What an admin gets for `.github/ci-fix-loop.yml`: positions, a schema in sync, branch globs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from app.config.model import RepoConfig, branch_matches
from app.config.schema import json_schema, load_yaml, locate, parse_repo_config
from app.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schema" / "ci-fix-loop.schema.json"


def problems_in(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_repo_config(load_yaml(text, source="f"), source="f")
    return [str(p) for p in locate(caught.value.problems, text)]


def test_every_problem_names_its_line_and_column() -> None:
    text = "enabled: true\nguard:\n  max_files: ten\nautofix:\n  - ok\n  - ''\nmax_iteration: 3\n"
    assert problems_in(text) == [
        'guard.max_files: "ten" is not valid: expected an integer from 1 to 100 (line 3, column 3)',
        'autofix[1]: "" is not valid: expected a non-empty command line (at most 1000 '
        "characters) (line 6, column 5)",
        'max_iteration: unknown key (did you mean "max_iterations"?): expected one of '
        "_extends, enabled, branches, max_iterations, budget, models, fixer, autofix, verify, "
        "guard, rerun_flaky_tests, escalation, dry_run, pull_requests, on_give_up "
        "(line 7, column 1)",
    ]


def test_a_syntax_error_says_where_once() -> None:
    (found,) = problems_in("branches: [main\nmax_iterations: 3\n")
    assert found.count("line ") == 1 and "YAML syntax error at line" in found


def test_the_committed_schema_is_the_generated_one() -> None:
    """`python -m app config schema > schema/ci-fix-loop.schema.json` after changing SCHEMA."""
    assert json.loads(COMMITTED.read_text()) == json_schema()


def test_the_schema_accepts_the_documented_defaults_and_refuses_what_the_app_refuses() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n(# \.github/ci-fix-loop\.yml.*?)```", readme, re.S)
    assert block is not None, "README's defaults block is missing"
    defaults = yaml.safe_load(block.group(1))
    validator = jsonschema.Draft202012Validator(json_schema())
    assert list(validator.iter_errors(defaults)) == []
    parse_repo_config(defaults, source="README")  # the app agrees
    for bad in ({"max_iterations": 0}, {"guard": {"max_files": "ten"}}, {"max_iteration": 3}):
        assert list(validator.iter_errors(bad)), bad
        with pytest.raises(ConfigError):
            parse_repo_config(bad, source="bad")


@pytest.mark.parametrize(
    ("pattern", "branch", "watched"),
    [
        ("release/*", "release/1.2", True),
        ("release/*", "release/1.2/hotfix", False),
        ("release/**", "release/1.2/hotfix", True),
        ("v?", "v1", True),
        ("main", "main", True),
        ("main", "main2", False),
    ],
)
def test_branch_globs_follow_githubs_filter_syntax(pattern, branch, watched) -> None:
    assert branch_matches(pattern, branch) is watched
    config = parse_repo_config({"branches": [pattern]}, source="f")
    assert config.watches(branch, "main") is watched


def test_no_branches_means_the_default_branch() -> None:
    assert RepoConfig().watches("trunk", "trunk") and not RepoConfig().watches("dev", "trunk")
