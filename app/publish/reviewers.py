"""Who should review a fix: the CODEOWNERS of what it changed, else the failing commit's author.

CODEOWNERS is read through the contents API from the repository's default
branch, in GitHub's order (``.github/``, the root, ``docs/``).  The file is
untrusted input written by anyone who can push: it is parsed defensively
(bounded size and line count, owners checked against GitHub's login and team
syntax, patterns GitHub would not accept skipped) and can only name people to
*ask* for a review; it grants nothing.  The parse and the match are pure.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus

import gidgethub
from gidgethub.abc import GitHubAPI

log = logging.getLogger(__name__)

CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
MAX_CODEOWNERS_BYTES = 3 * 1024 * 1024  # GitHub ignores larger files
MAX_RULES = 5000
MAX_REVIEWERS = 10
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})
_USER = re.compile(r"@([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))")
_TEAM = re.compile(r"@([A-Za-z0-9][A-Za-z0-9-]{0,38})/([A-Za-z0-9][A-Za-z0-9._-]{0,99})")


@dataclass(frozen=True)
class Owners:
    """People and teams (slugs within the repository's organisation) to ask for review."""

    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.users or self.teams)


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    owners: Owners


def _pattern_regex(pattern: str) -> re.Pattern[str] | None:
    """gitignore-style CODEOWNERS pattern -> regex over repository-relative paths.

    ``/x`` and ``a/b`` are anchored at the root; ``x`` matches at any depth; a
    pattern naming a directory covers everything below it; ``*`` stays within
    one path segment, ``**`` crosses them.  Patterns GitHub rejects (``!``,
    ``[`` ranges, ``\\#`` escapes) return None and are skipped.
    """
    if not pattern or pattern.startswith("!") or "[" in pattern or "\\" in pattern:
        return None
    directory = pattern.endswith("/")
    body = pattern.strip("/")
    if not body:
        return None
    anchored = pattern.startswith("/") or "/" in body
    out = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    suffix = "/.*" if directory else "(?:/.*)?"
    return re.compile(f"{prefix}{''.join(out)}{suffix}", re.DOTALL)


def parse_codeowners(text: str, org: str) -> list[Rule]:
    """The usable rules of a CODEOWNERS file, in file order (the last match wins).

    Teams outside ``org`` cannot be requested on this repository and are dropped;
    e-mail owners cannot be requested through the API and are dropped too.
    """
    rules: list[Rule] = []
    for raw in text.splitlines()[:MAX_RULES]:
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        pattern, *tokens = line.split()
        regex = _pattern_regex(pattern)
        if regex is None:
            continue
        users: list[str] = []
        teams: list[str] = []
        for token in tokens:
            if (team := _TEAM.fullmatch(token)) is not None:
                if team.group(1).lower() == org.lower():
                    teams.append(team.group(2))
            elif (user := _USER.fullmatch(token)) is not None:
                users.append(user.group(1))
        # A rule without owners is meaningful: it un-owns the paths it matches.
        rules.append(Rule(regex, Owners(tuple(users), tuple(teams))))
    return rules


def owners_for(rules: Sequence[Rule], paths: Iterable[str]) -> Owners:
    """Every owner of any of ``paths``; for each path the last matching rule decides."""
    users: dict[str, None] = {}
    teams: dict[str, None] = {}
    for path in paths:
        match = next((r for r in reversed(rules) if r.pattern.fullmatch(path)), None)
        if match is not None:
            users.update(dict.fromkeys(match.owners.users))
            teams.update(dict.fromkeys(match.owners.teams))
    return Owners(tuple(users)[:MAX_REVIEWERS], tuple(teams)[:MAX_REVIEWERS])


async def read_codeowners(gh: GitHubAPI, repo: str) -> str | None:
    """The first CODEOWNERS file GitHub itself would use, from the default branch."""
    owner, name = repo.split("/", 1)
    for path in CODEOWNERS_PATHS:
        try:
            item = await gh.getitem(
                "/repos/{owner}/{repo}/contents/{+path}",
                {"owner": owner, "repo": name, "path": path},
            )
        except gidgethub.BadRequest as exc:
            if exc.status_code == HTTPStatus.NOT_FOUND:
                continue
            raise
        if not isinstance(item, dict) or item.get("type") != "file":
            continue
        if int(item.get("size") or 0) > MAX_CODEOWNERS_BYTES:
            log.info("%s:%s is over GitHub's size limit for CODEOWNERS; ignored", repo, path)
            return None
        try:
            return base64.b64decode(str(item.get("content", ""))).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None
    return None


async def author_with_write_access(gh: GitHubAPI, repo: str, sha: str) -> str | None:
    """The failing commit's author's login, when they can push to the repository."""
    owner, name = repo.split("/", 1)
    commit = await gh.getitem(
        "/repos/{owner}/{repo}/commits/{ref}", {"owner": owner, "repo": name, "ref": sha}
    )
    author = commit.get("author") if isinstance(commit, dict) else None
    login = author.get("login") if isinstance(author, dict) else None
    if not isinstance(login, str) or not _USER.fullmatch(f"@{login}"):
        return None  # an e-mail without a GitHub account, or a deleted user
    if isinstance(author, dict) and author.get("type") == "Bot":
        return None
    try:
        access = await gh.getitem(
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            {"owner": owner, "repo": name, "username": login},
        )
    except gidgethub.BadRequest as exc:
        if exc.status_code == HTTPStatus.NOT_FOUND:
            return None
        raise
    return login if access.get("permission") in WRITE_PERMISSIONS else None


async def choose_reviewers(
    gh: GitHubAPI, *, repo: str, changed_paths: Iterable[str], failing_sha: str
) -> Owners:
    """CODEOWNERS of the changed files, else the failing commit's author with write access."""
    text = await read_codeowners(gh, repo)
    if text is not None:
        owners = owners_for(parse_codeowners(text, repo.split("/", 1)[0]), changed_paths)
        if owners:
            return owners
    author = await author_with_write_access(gh, repo, failing_sha)
    return Owners(users=(author,)) if author else Owners()


async def request_reviewers(gh: GitHubAPI, *, repo: str, pr_number: int, owners: Owners) -> bool:
    """Ask for the reviews; False (logged) when GitHub refuses, e.g. a CODEOWNER without access."""
    data: dict[str, list[str]] = {"reviewers": list(owners.users)}
    if owners.teams:
        data["team_reviewers"] = list(owners.teams)
    try:
        await gh.post(f"/repos/{repo}/pulls/{pr_number}/requested_reviewers", data=data)
    except gidgethub.BadRequest as exc:
        if exc.status_code != HTTPStatus.UNPROCESSABLE_ENTITY:
            raise
        log.warning("GitHub refused reviewers %s on %s#%s: %s", data, repo, pr_number, exc)
        return False
    return True
