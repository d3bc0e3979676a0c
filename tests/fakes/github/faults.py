"""Fault injection: make the next matching requests fail the way GitHub sometimes does."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    """Answer ``times`` requests matching ``method`` and ``path_pattern`` with this instead.

    ``path_pattern`` is a regular expression when it starts with ``^``, else an fnmatch glob
    (``*`` also matches ``/``). ``reset_connection`` drops the connection without answering.
    """

    method: str
    path_pattern: str
    status: int
    times: int = 1
    headers: dict[str, str] | None = None
    body: Any = None
    reset_connection: bool = False
    delay_s: float = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times <= 0 or self.method.upper() not in ("*", method.upper()):
            return False
        if self.path_pattern.startswith("^"):
            return re.search(self.path_pattern, path) is not None
        return fnmatch.fnmatchcase(path, self.path_pattern)


class FaultPlan:
    """The pending faults, consumed first come first served."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.pending.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.pending:
            if fault.matches(method, path):
                fault.times -= 1
                if fault.times <= 0:
                    self.pending.remove(fault)
                return fault
        return None
