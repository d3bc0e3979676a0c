"""A push that changes `.github/ci-fix-loop.yml` on the default branch gets a check run saying
whether the file is valid, on that very commit, so an admin learns of a mistake at once
rather than at the next CI failure (when the app would quietly pause for the repository).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from app.config.model import CONFIG_PATH
from app.config.source import load_repo_config, render_config_problems
from app.github.client import GitHubClients
from app.intake.payloads import PushFacts
from app.publish.checkrun import completed_check
from app.settings import Settings
from app.store.base import Store
from app.store.records import ConfigPause

log = logging.getLogger(__name__)

CHECK_NAME = "CI Fix Loop config"


class ConfigChecker:
    """The intake's ``Pushes`` port."""

    def __init__(
        self,
        *,
        settings: Settings,
        clients: GitHubClients,
        store: Store,
        clock: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._clients = clients
        self._store = store
        self._clock = clock

    async def on_push(self, push: PushFacts) -> None:
        gh = self._clients.for_installation(push.installation_id)
        owner, name = push.repo.split("/", 1)
        load = await load_repo_config(
            gh,
            owner=owner,
            repo=name,
            ref=push.after,
            allow_fixer_command=self._settings.allow_repo_fixer_command,
        )
        if load.ok:
            await self._store.clear_config_pause(push.repo)
            source = f"`{load.source}`" if load.source else "No config file: every default"
            title, conclusion = f"{CONFIG_PATH} is valid", "success"
            summary = (
                f"{source} applies to this repository (organisation defaults and `_extends` "
                "included). Every key and its default is documented in the README."
            )
        else:
            problems = tuple(map(str, load.problems))
            await self._store.put_config_pause(
                ConfigPause(push.repo, problems, load.source, self._clock())
            )
            title = f"{CONFIG_PATH} is invalid ({len(load.problems)} problem(s))"
            conclusion = "failure"
            summary = render_config_problems(load.problems, load.source)
        await completed_check(
            gh,
            repo=push.repo,
            head_sha=push.after,
            conclusion=conclusion,
            title=title,
            summary_markdown=summary,
            name=CHECK_NAME,
        )
        log.info("config of %s at %s checked: %s", push.repo, push.after[:7], conclusion,
                 extra={"step": "config_check", "conclusion": conclusion})  # fmt: skip
