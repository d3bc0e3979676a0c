"""Where a run stands in its branch's history: the newest one, or overtaken.

GitHub delivers ``workflow_run`` events late, twice and out of order, so a
delivery alone never says whether its commit is the branch's newest.  This
module keeps, per branch and workflow, the newest completed run seen
(``run_marks`` in the store) and places each new run against those with
``app.loop.policy.run_order``: commit ancestry from GitHub's compare API, then
run creation time, ``run_number`` and ``run_attempt``.  A different sha is never
taken to mean a newer commit.  Placing is a compare-and-set, so two deliveries
placed at once cannot both claim to be the newest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import aiohttp
import cachetools
import gidgethub

from app.github.client import AppGitHubAPI
from app.intake.payloads import RunFacts
from app.loop.policy import Ancestry, Order, RunMark, run_order
from app.store.base import Store
from app.store.records import BranchRun

log = logging.getLogger(__name__)

MAX_PLACING_ROUNDS = 8  # compare-and-set retries when deliveries race (a handful at most)


class Placement(StrEnum):
    CURRENT = "current"  # the newest run of its workflow (or it again), on the newest commit
    STALE = "stale"  # a newer run of the workflow, or a newer commit, was already seen


@dataclass(frozen=True)
class Placed:
    placement: Placement
    reason: str = ""

    @property
    def current(self) -> bool:
        return self.placement is Placement.CURRENT


def mark_of(run: BranchRun | RunFacts) -> RunMark:
    return RunMark(
        head_sha=run.head_sha,
        workflow_id=run.workflow_id,
        run_id=run.run_id,
        run_number=run.run_number,
        run_attempt=run.run_attempt,
        created_at=run.created_at,
    )


class BranchHistory:
    """Places runs on their branch; remembers GitHub's answers about commit ancestry."""

    def __init__(self, store: Store, *, cache_size: int = 4096) -> None:
        self._store = store
        # Commits never change, so an answer about two of them holds forever.
        self._ancestry: cachetools.LRUCache[tuple[str, str, str], Ancestry] = cachetools.LRUCache(
            cache_size
        )

    async def ancestry(self, gh: AppGitHubAPI, repo: str, base: str, head: str) -> Ancestry:
        """GitHub's compare status of ``base...head`` (``ahead``: head descends from base)."""
        if base == head:
            return Ancestry.IDENTICAL
        key = (repo, base, head)
        known = self._ancestry.get(key)
        if known is not None:
            return known
        owner, name = repo.split("/", 1)
        try:
            data = await gh.getitem(
                "/repos/{owner}/{repo}/compare/{basehead}?per_page=1",
                {"owner": owner, "repo": name, "basehead": f"{base}...{head}"},
            )
        except gidgethub.BadRequest as exc:
            # 404: a commit GitHub no longer has (force-pushed away); the run times decide.
            log.info("compare %s...%s: %s; ordering by run time", base[:7], head[:7], exc)
            return Ancestry.UNKNOWN
        except (gidgethub.GitHubBroken, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("compare %s...%s failed (%r); ordering by run time",
                        base[:7], head[:7], exc)  # fmt: skip
            return Ancestry.UNKNOWN
        status = Ancestry.of(data.get("status") if isinstance(data, dict) else None)
        if status is not Ancestry.UNKNOWN:
            self._ancestry[key] = status
        return status

    async def place(self, gh: AppGitHubAPI, facts: RunFacts) -> Placed:
        """Record ``facts`` as its workflow's newest run on the branch, unless it is not.

        Stale when the same workflow already reported a newer run, or when any
        workflow reported on a newer commit of the branch: a newer commit's
        result, green or red, is what counts.
        """
        mark = mark_of(facts)
        for _ in range(MAX_PLACING_ROUNDS):
            seen = await self._store.branch_runs(facts.repo, facts.head_branch)
            own = next((r for r in seen if r.workflow_id == facts.workflow_id), None)
            repeat = False
            for other in seen:
                if other.head_sha == facts.head_sha and other is not own:
                    continue  # another workflow on this very commit: a sibling
                ancestry = await self.ancestry(gh, facts.repo, other.head_sha, facts.head_sha)
                order = run_order(mark, mark_of(other), ancestry)
                if order is Order.SAME:
                    repeat = True  # this very run again; still checked against newer commits
                    continue
                if order is Order.OLDER:
                    what = (
                        f"a later run of {facts.workflow_name}"
                        if other.head_sha == facts.head_sha
                        else f"newer commit {other.head_sha[:7]}"
                    )
                    return Placed(Placement.STALE, f"{what} already reported")
            if repeat:
                # This very run again (a redelivery, a replay after a crash), and still
                # the newest: handled again.  Every step of that is idempotent, and a
                # step a crash cut off gets done now.
                return Placed(Placement.CURRENT, f"run {facts.run_id} again")
            newest = BranchRun(
                repo=facts.repo,
                branch=facts.head_branch,
                workflow_id=facts.workflow_id,
                head_sha=facts.head_sha,
                run_id=facts.run_id,
                run_number=facts.run_number,
                run_attempt=facts.run_attempt,
                created_at=facts.created_at,
                conclusion=facts.conclusion,
            )
            if await self._store.put_branch_run(newest, replacing=own):
                return Placed(Placement.CURRENT)
        # Lost every race: others keep placing newer runs; this one is not the newest.
        return Placed(Placement.STALE, "newer runs kept arriving")
