"""GitHub's GraphQL endpoint (``POST /graphql``), checked against GitHub's public schema.

Some changes have no REST operation (a draft pull request becomes ready for review only
through ``markPullRequestReadyForReview``), so the fake answers GraphQL too. Every document
is parsed and validated with graphql-core against ``shared/github/graphql-schema.graphql``;
what GitHub would refuse comes back as GitHub's ``{"errors": [...]}`` and is recorded as a
violation, exactly like an invalid REST request.

Implemented: mutations ``markPullRequestReadyForReview`` and ``convertPullRequestToDraft``;
queries ``node(id:)`` and ``repository(owner:, name:) { pullRequest(number:) }`` for pull
requests. Any other field validates but resolves to null (with an error when non-null), so a
test using it fails loudly until the fake learns it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import graphql

from . import bodies
from .models import AccessToken, Issue, Repo

if TYPE_CHECKING:
    from .state import GitHubState

Resolver = Callable[..., Any]


@functools.cache
def load_schema(path: Path) -> graphql.GraphQLSchema:
    """The schema, built once per process (it is large and read-only).

    ``assume_valid_sdl``: GitHub's published SDL defines two fields twice, which the SDL
    validator rejects although every document we send is unaffected.
    """
    return graphql.build_schema(path.read_text(encoding="utf-8"), assume_valid_sdl=True)


def default_schema() -> graphql.GraphQLSchema:
    from tests.support import shared_dir

    return load_schema(shared_dir() / "github" / "graphql-schema.graphql")


@dataclass
class GraphQLReply:
    """The JSON answer; ``problems`` are what GitHub would refuse (recorded as violations)."""

    status: int
    body: dict[str, Any]
    problems: list[str]


class GraphQLEndpoint:
    """Validates and executes one document against the fake's state."""

    def __init__(self, state: GitHubState, schema: graphql.GraphQLSchema) -> None:
        self.state = state
        self.schema = schema

    def answer(self, body: Any, token: AccessToken) -> GraphQLReply:
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _refused(400, "A query attribute must be specified and must be a string.")
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            return _refused(400, "Variables are invalid JSON.")
        try:
            document = graphql.parse(body["query"])
        except graphql.GraphQLError as error:
            return _invalid([error])
        errors = graphql.validate(self.schema, document)
        if errors:
            return _invalid(errors)
        result = graphql.execute(
            self.schema,
            document,
            root_value=_Root(self, token),
            variable_values=variables,
            operation_name=body.get("operationName"),
            field_resolver=_resolve_field,
        )
        assert isinstance(result, graphql.ExecutionResult), "resolvers are synchronous"
        out: dict[str, Any] = {"data": result.data}
        problems = []
        if result.errors:
            out["errors"] = [_github_error(error) for error in result.errors]
            problems = [
                error.message
                for error in result.errors
                if not isinstance(error.original_error, Refusal)
            ]
        return GraphQLReply(200, out, problems)

    # -- lookups -----------------------------------------------------------------------

    def pull_by_node_id(self, node_id: str, token: AccessToken) -> tuple[Repo, Issue]:
        for repo in self.state.repos.values():
            for issue in repo.issues.values():
                if issue.pull and f"PR_{issue.pull.id}" == node_id:
                    if not self.state.token_can_see(token, repo):
                        break
                    return repo, issue
        raise NotFound(f"Could not resolve to a node with the global id of '{node_id}'")

    def pull_request(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        """A ``PullRequest`` object with the fields a client of this app asks for."""
        pull = issue.pr
        head_repo = self.state.repos.get(pull.head_repo.lower(), repo)
        state = "OPEN" if issue.state == "open" else "CLOSED"
        html = f"{self.state.html_url}/{repo.full_name}/pull/{issue.number}"
        return {
            "__typename": "PullRequest",
            "id": f"PR_{pull.id}",
            "databaseId": pull.id,
            "fullDatabaseId": str(pull.id),
            "number": issue.number,
            "title": issue.title,
            "body": issue.body or "",
            "isDraft": pull.draft,
            "state": state,
            "closed": issue.state != "open",
            "merged": False,
            "url": html,
            "permalink": html,
            "resourcePath": f"/{repo.full_name}/pull/{issue.number}",
            "headRefName": pull.head_ref,
            "headRefOid": bodies.pull_head_sha(self.state, repo, issue),
            "baseRefName": pull.base_ref,
            "baseRefOid": repo.refs.get(f"refs/heads/{pull.base_ref}", ""),
            "isCrossRepository": head_repo is not repo,
            "maintainerCanModify": pull.maintainer_can_modify,
            "createdAt": bodies.iso(issue.created_at),
            "updatedAt": bodies.iso(issue.updated_at),
            "author": _actor(self.state, issue.user),
            "repository": self.repository(repo),
        }

    def repository(self, repo: Repo) -> dict[str, Any]:
        def pull_request(_info: graphql.GraphQLResolveInfo, number: int) -> Any:
            issue = repo.issues.get(number)
            if issue is None or issue.pull is None:
                raise NotFound(f"Could not resolve to a PullRequest with the number of {number}.")
            return self.pull_request(repo, issue)

        owner_kind = "Organization"
        installation = self.state.installation_for(repo)
        if installation is not None and installation.account_type == "User":
            owner_kind = "User"
        return {
            "__typename": "Repository",
            "id": f"R_{repo.id}",
            "name": repo.name,
            "nameWithOwner": repo.full_name,
            "owner": {"__typename": owner_kind, "login": repo.owner, "id": f"U_{repo.owner}"},
            "isPrivate": repo.private,
            "url": f"{self.state.html_url}/{repo.full_name}",
            "pullRequest": pull_request,
        }


class Refusal(Exception):
    """GitHub declining a valid document (``type`` as GitHub names it): an answer, not a
    client mistake, so it is not recorded as a violation."""

    type = "UNPROCESSABLE"


class NotFound(Refusal):
    type = "NOT_FOUND"


class _Root:
    """Root value: each top-level field is a method taking the field's arguments."""

    def __init__(self, endpoint: GraphQLEndpoint, token: AccessToken) -> None:
        self.endpoint = endpoint
        self.token = token

    def node(self, _info: graphql.GraphQLResolveInfo, id: str) -> Any:
        repo, issue = self.endpoint.pull_by_node_id(id, self.token)
        return self.endpoint.pull_request(repo, issue)

    def repository(self, _info: graphql.GraphQLResolveInfo, owner: str, name: str, **_: Any) -> Any:
        state = self.endpoint.state
        repo = state.repos.get(f"{owner}/{name}".lower())
        if repo is None or not state.token_can_see(self.token, repo):
            raise NotFound(f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return self.endpoint.repository(repo)

    def markPullRequestReadyForReview(  # GitHub's field name, resolved by name
        self,
        _info: graphql.GraphQLResolveInfo,
        input: dict[str, Any],
    ) -> Any:
        return self._set_draft(input, draft=False)

    def convertPullRequestToDraft(
        self,
        _info: graphql.GraphQLResolveInfo,
        input: dict[str, Any],
    ) -> Any:
        return self._set_draft(input, draft=True)

    def _set_draft(self, fields: dict[str, Any], *, draft: bool) -> dict[str, Any]:
        repo, issue = self.endpoint.pull_by_node_id(fields["pullRequestId"], self.token)
        if issue.state != "open":
            raise Refusal("Pull request is closed")
        issue.pr.draft = draft
        issue.updated_at = self.endpoint.state.clock()
        return {
            "clientMutationId": fields.get("clientMutationId"),
            "pullRequest": self.endpoint.pull_request(repo, issue),
        }


def _resolve_field(source: Any, info: graphql.GraphQLResolveInfo, **args: Any) -> Any:
    """Dict keys and attributes; callables (methods, per-object resolvers) get the arguments."""
    name = info.field_name
    value = source.get(name) if isinstance(source, dict) else getattr(source, name, None)
    if callable(value):
        return value(info, **args)
    return value


def _actor(state: GitHubState, login: str) -> dict[str, Any]:
    kind = "Bot" if login.endswith("[bot]") else "User"
    return {
        "__typename": kind,
        "login": login.removesuffix("[bot]") if kind == "Bot" else login,
        "id": f"U_{bodies.user_id(login)}",
        "url": f"{state.html_url}/{login}",
        "avatarUrl": f"https://avatars.githubusercontent.com/u/{bodies.user_id(login)}?v=4",
        "resourcePath": f"/{login}",
    }


def _github_error(error: graphql.GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    if isinstance(error.original_error, Refusal):
        formatted["type"] = error.original_error.type
    return formatted


def _invalid(errors: list[graphql.GraphQLError]) -> GraphQLReply:
    """GitHub answers an invalid document with 200 and only ``errors``."""
    return GraphQLReply(200, {"errors": [e.formatted for e in errors]}, [e.message for e in errors])


def _refused(status: int, message: str) -> GraphQLReply:
    body = {"message": message, "documentation_url": "https://docs.github.com/graphql"}
    return GraphQLReply(status, body, [message])
