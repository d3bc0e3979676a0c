"""Webhook deliveries for tests: real payloads from shared/, signed exactly as GitHub signs.

``workflow_run_payload`` turns a run seeded in the fake GitHub into the delivery GitHub
would send for it, so a test drives the app with the same ids, shas and URLs the fake
will then answer for.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from typing import TYPE_CHECKING, Any

from tests.support import shared_dir

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub


def load_payload(event: str, name: str) -> dict[str, Any]:
    """A fresh copy of ``shared/github/webhooks/<event>/<name>.json`` (safe to mutate)."""
    path = shared_dir() / "github" / "webhooks" / event / f"{name}.json"
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.json"))
        raise FileNotFoundError(f"no webhook example {event}/{name}.json; have {available}")
    return json.loads(path.read_text(encoding="utf-8"))


def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` value: ``sha256=`` + HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_headers(
    event: str, body: bytes, secret: str, delivery_id: str | None = None
) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/abc",
    }


def workflow_run_payload(
    fake: FakeGitHub,
    run: dict[str, Any],
    *,
    action: str = "completed",
    installation_id: int,
) -> dict[str, Any]:
    """The ``workflow_run`` delivery for ``run`` (as returned by ``fake.add_workflow_run``)."""
    payload = load_payload("workflow_run", "completed.success.2")
    payload["action"] = action
    payload["workflow_run"] = {**payload["workflow_run"], **copy.deepcopy(run)}
    payload["repository"] = copy.deepcopy(run["repository"])
    owner = run["repository"]["owner"]
    if owner.get("type") == "Organization":
        payload["organization"] = {
            **payload["organization"],
            "login": owner["login"],
            "id": owner["id"],
        }
    else:
        payload.pop("organization", None)
    repo_api = run["repository"]["url"]
    payload["workflow"] = {
        **payload["workflow"],
        "id": run["workflow_id"],
        "name": run["name"],
        "path": run["path"],
        "url": f"{repo_api}/actions/workflows/{run['workflow_id']}",
        "html_url": f"{run['repository']['html_url']}/blob/"
        f"{run['repository']['default_branch']}/{run['path']}",
    }
    payload["installation"] = {"id": installation_id, "node_id": f"I_{installation_id}"}
    payload["sender"] = copy.deepcopy(run.get("actor") or payload["sender"])
    return payload


def pull_request_payload(
    fake: FakeGitHub, repo: str, number: int, *, action: str = "opened"
) -> dict[str, Any]:
    """The ``pull_request`` delivery for pull request ``number`` of the fake, from GitHub's
    own ``opened`` example with the pull request, repository and installation replaced."""
    from tests.fakes.github import bodies

    payload = load_payload("pull_request", "opened.1")
    payload["action"] = action
    payload["number"] = number
    the_repo = fake.repo(repo)
    pull = fake.schema_body("pull-request", bodies.pull(fake, the_repo, fake.pull(repo, number)))
    payload["pull_request"] = {**payload["pull_request"], **pull}
    payload["repository"] = {**payload["repository"], **bodies.repository(fake, the_repo)}
    [installation] = [i.id for i in fake.installations.values() if the_repo.key in i.repos]
    payload["installation"] = {"id": installation, "node_id": f"I_{installation}"}
    return payload
