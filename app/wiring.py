"""Builds the engine's default collaborators from the operator's settings."""

from __future__ import annotations

from gidgethub.abc import GitHubAPI

from app.attempt import FixAttempter
from app.config_source import ConfigLoad, load_repo_config
from app.engine import AttemptInput
from app.fixers.base import Fixer
from app.fixers.select import FixerSettings, choose_fixers
from app.gather import LogGatherer
from app.metrics import Metrics
from app.settings import Settings


class RepoConfigLoader:
    """Reads `.github/ci-fix-loop.yml` from the default branch (pushers cannot change it)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def load(self, gh: GitHubAPI, repo: str, head_sha: str) -> ConfigLoad:
        owner, name = repo.split("/", 1)
        return await load_repo_config(
            gh,
            owner=owner,
            repo=name,
            allow_fixer_command=self._settings.allow_repo_fixer_command,
        )


def default_diagnoser(settings: Settings) -> LogGatherer:
    return LogGatherer(tail_bytes=settings.log_tail_bytes)


def default_attempter(settings: Settings, metrics: Metrics) -> FixAttempter:
    operator = FixerSettings.from_settings(settings)

    def fixers(request: AttemptInput) -> list[Fixer]:
        return choose_fixers(request.config, request.diagnosis.category, operator)

    return FixAttempter(fixers=fixers, metrics=metrics)
