"""Benchmark: the diff guard on a 200-line change across five files in four languages.

Builds a repository in memory (a Python module and its tests, a TypeScript
module and its tests, a Go package with tests, a Rust crate: about 2,600
lines), changes 200 lines spread over five of those files (an honest change,
so every analyzer runs to the end), and times ``check_change`` as a loop calls
it, warm, median of the runs.  Then it lays the two trees out on disk and times
``python -m app guard BEFORE AFTER`` as a maintainer runs it (process start,
imports, reading both trees), median of a few runs.

    python bench/guard.py [--runs 30] [--cli-runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config.model import GuardConfig
from app.fix.guard import FileState, MappingView, changes_between, check_change
from bench.machine import REPO_ROOT, describe


def _python_module(n: int, bump: int) -> str:
    return "".join(
        f"def f{i}(a, b):\n    total = a * {i} + b\n    return total + {i + bump * (i < 30)}\n\n\n"
        for i in range(n)
    )


def _python_tests(n: int, extra: int) -> str:
    head = "import pytest\n\nfrom pkg.mod import *\n\n\n"
    tests = "".join(
        f"@pytest.mark.parametrize('x', [1, 2, 3])\ndef test_f{i}(x):\n"
        f"    assert f{i}(x, 1) == x * {i} + 1 + {i}\n\n\n"
        for i in range(n)
    )
    added = "".join(f"def test_new{i}():\n    assert f{i}(0, 0) >= 0\n\n\n" for i in range(extra))
    return head + tests + added


def _ts_module(n: int, bump: int) -> str:
    return "".join(
        f"export function g{i}(a: number, b: number): number {{\n  return a * {i} + b + "
        f"{i + bump * (i < 30)};\n}}\n\n"
        for i in range(n)
    )


def _ts_tests(n: int) -> str:
    body = "".join(
        f'  it("g{i} adds", () => {{\n    expect(g{i}(1, 1)).toBe({i} + 1 + {i});\n  }});\n\n'
        for i in range(n)
    )
    return f'import * as m from "./mod";\n\ndescribe("mod", () => {{\n{body}}});\n'


def _go(n: int, bump: int) -> str:
    funcs = "".join(
        f"func H{i}(a, b int) int {{\n\treturn a*{i} + b + {i + bump * (i < 20)}\n}}\n\n"
        for i in range(n)
    )
    return "package calc\n\n" + funcs


def _go_tests(n: int) -> str:
    tests = "".join(
        f"func TestH{i}(t *testing.T) {{\n\tif got := H{i}(1, 1); got != {2 * i + 1} {{\n"
        f'\t\tt.Errorf("H{i} = %d", got)\n\t}}\n}}\n\n'
        for i in range(n)
    )
    return 'package calc\n\nimport "testing"\n\n' + tests


def _rust(n: int) -> str:
    funcs = "".join(f"pub fn k{i}(a: i64) -> i64 {{\n    a + {i}\n}}\n\n" for i in range(n))
    tests = "".join(
        f"    #[test]\n    fn k{i}_adds() {{\n        assert_eq!(k{i}(1), {i + 1});\n    }}\n\n"
        for i in range(n)
    )
    return funcs + f"#[cfg(test)]\nmod tests {{\n    use super::*;\n\n{tests}}}\n"


def trees() -> tuple[dict[str, FileState], dict[str, FileState]]:
    """The repository before and after a 200-line honest change."""

    def files(bump: int, extra: int) -> dict[str, str]:
        return {
            "pkg/mod.py": _python_module(120, bump),
            "tests/test_mod.py": _python_tests(60, extra),
            "web/mod.ts": _ts_module(80, bump),
            "web/mod.test.ts": _ts_tests(60),
            "calc/calc.go": _go(60, bump),
            "calc/calc_test.go": _go_tests(40),
            "src/lib.rs": _rust(40),
            "README.md": "# bench\n" * 20,
        }

    before = {p: FileState(t.encode()) for p, t in files(0, 0).items()}
    after = {p: FileState(t.encode()) for p, t in files(1, 10).items()}
    return before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cli-runs", type=int, default=5)
    args = parser.parse_args()
    before, after = trees()
    changes = changes_between(before, after)
    config = GuardConfig()
    verdict = check_change(changes, config, context=MappingView(before))
    changed = verdict.lines_added + verdict.lines_removed
    lines = sum(s.data.count(b"\n") for s in after.values())
    assert verdict.ok, verdict.reasons
    timings, cpu = [], []
    for _ in range(args.runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        check_change(changes, config, context=MappingView(before))
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    cli = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, tree in (("before", before), ("after", after)):
            for path, state in tree.items():
                target = Path(tmp, name, path)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(state.data)
        for _ in range(args.cli_runs):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "app", "guard", f"{tmp}/before", f"{tmp}/after"],
                check=True,
                capture_output=True,
                cwd=REPO_ROOT,
            )
            cli.append((time.perf_counter() - started) * 1000)
    print(
        f"| guard on a {changed}-line change ({len(changes)} files, {lines} lines in the tree, "
        f"Python/TS/Go) | check_change {statistics.median(timings):.1f} ms median "
        f"({min(timings):.1f}–{max(timings):.1f}, {args.runs} runs), "
        f"{statistics.median(cpu):.1f} ms CPU; `python -m app guard` "
        f"{statistics.median(cli):.0f} ms median ({args.cli_runs} runs) | < 100 ms in-process "
        "| `python bench/guard.py` |"
    )
    print(describe(), f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
