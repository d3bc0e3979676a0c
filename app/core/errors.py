"""Every error the app raises on purpose, in one tree rooted at ``CiFixLoopError``.

Three branches, by who has to act:

* ``OperatorError``: whoever runs the app (settings, the App's key, setup).
  The message names the setting and what to set it to.
* ``LoopError``: ends one fix loop.  Its message is a sentence a maintainer can
  act on, and it is what the loop's escalation issue says (the engine catches
  ``LoopError`` by type; anything else is an internal error and says so).
* ``BadInput``: something untrusted (a repository's config, a CI report, a
  model's reply, an archive) that is refused.  Also a ``ValueError``, so a
  parser's caller may treat it like any other bad value.

Catch the narrowest class you mean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.config.schema import ConfigProblem


class CiFixLoopError(Exception):
    """Base of the tree: an error with a message written for a person."""


# ------------------------------------------------------------------ operator


class OperatorError(CiFixLoopError):
    """The app cannot run as configured; the operator has to change something."""


class SettingsError(OperatorError):
    """The environment does not describe a runnable app; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class GitHubAuthError(OperatorError):
    """GitHub refused to authenticate the App or to issue an installation token."""


class SandboxUnavailable(OperatorError):
    """The jail for untrusted code cannot start here; the message says what the host lacks."""


class SetupFailed(OperatorError):
    """A registration step failed in a way the person can act on (``advice``)."""

    def __init__(self, message: str, advice: str, status: int = 502) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice
        self.status = status


# ---------------------------------------------------------------------- loop


class LoopError(CiFixLoopError):
    """Ends a fix loop; ``str(error)`` is the sentence the escalation issue shows."""


class FixerUnavailable(LoopError, ValueError):
    """The configured fixer cannot run; the message says what to set."""


class DownloadError(LoopError):
    """The failing commit's tarball could not be downloaded."""


class WorkspaceError(LoopError):
    """Git failed in the workspace, or the workspace holds something unpublishable."""


class PublishError(LoopError):
    """The fix could not be committed or its pull request opened; the message says why."""


# ------------------------------------------------------------ infrastructure


class StoreUnavailable(CiFixLoopError):
    """The database did not answer (restarting, unreachable, locked for too long).

    Infrastructure, not a loop's failure: whoever meets it waits and tries
    again (the intake answers 503 with ``Retry-After``; a worker puts the loop
    back in the queue), and never escalates a loop for it.
    """


# ----------------------------------------------------------------- bad input


class BadInput(CiFixLoopError, ValueError):
    """Untrusted input that is refused; the message says what was wrong with it."""


class UnsafeArchive(BadInput, LoopError):
    """The tarball holds something that must not be extracted; ``reason`` says what."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"refusing to extract the repository archive: {reason}")
        self.reason = reason


class ConfigError(BadInput):
    """A config file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: list[ConfigProblem], *, source: str) -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"- {problem}" for problem in problems)
        super().__init__(f"{source} is not a valid ci-fix-loop config:\n{lines}")


class ReportError(BadInput):
    """A ``/hooks/ci`` body that is JSON but not a usable CI report; says what to send."""


class EditError(BadInput):
    """A model's reply or edit that cannot be applied; the message is meant for the model."""
