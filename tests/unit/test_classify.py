"""The classifier on short, realistic logs of each tool it knows (none of them from the corpus)."""

from __future__ import annotations

import argparse
import codecs
import io
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.diagnosis import cli
from app.diagnosis.classify import Annotation, JobLog, classify, classify_text, repo_path
from app.diagnosis.logparse import parse_log
from app.diagnosis.model import Category
from tests.support import actions_log

REPO_ROOT = Path(__file__).resolve().parents[2]
W = "/home/runner/work/proj/proj"


@dataclass(frozen=True)
class Case:
    name: str
    command: str
    output: tuple[str, ...]
    category: Category
    tool: str | None
    key: str
    file: str | None = None
    line: int | None = None
    exit_code: int = 1
    job: str = "ci"


CASES = [
    Case(
        "ruff",
        "ruff check .",
        (
            "src/app/main.py:3:8: F401 [*] `os` imported but unused",
            "Found 1 error.",
            "[*] 1 fixable with the `--fix` option.",
        ),
        Category.LINT,
        "ruff",
        "F401 [*] `os` imported",
        "src/app/main.py",
        3,
    ),
    Case(
        "ruff-full-format",
        "ruff check --output-format=full .",
        (
            "F841 Local variable `total` is assigned to but never used",
            " --> src/app/cart.py:12:5",
            "   |",
            "12 |     total = 0",
            "   |     ^^^^^",
            "   |",
            "help: Remove assignment to unused variable `total`",
            "",
            "Found 1 error.",
            "No fixes available (1 hidden fix can be enabled with the `--unsafe-fixes` option).",
        ),
        Category.LINT,
        "ruff",
        "F841 Local variable",
        "src/app/cart.py",
        12,
    ),
    Case(
        "ruff-format",
        "ruff format --check",
        (
            "Would reformat: src/app/views.py",
            "1 file would be reformatted, 14 files already formatted",
        ),
        Category.LINT,
        "ruff",
        "Would reformat: src/app/views.py",
        "src/app/views.py",
    ),
    Case(
        "flake8",
        "flake8 src",
        (
            "./src/app/util.py:10:80: E501 line too long (88 > 79 characters)",
            "./src/app/util.py:14:1: W391 blank line at end of file",
        ),
        Category.LINT,
        "flake8",
        "E501 line too long",
        "src/app/util.py",
        10,
    ),
    Case(
        "pylint",
        "pylint app",
        (
            "************* Module app.store",
            "app/store.py:8:0: W0611: Unused import os (unused-import)",
            "",
            "------------------------------------------------------------------",
            "Your code has been rated at 9.80/10 (previous run: 10.00/10, -0.20)",
        ),
        Category.LINT,
        "pylint",
        "W0611: Unused import os",
        "app/store.py",
        8,
        exit_code=4,
    ),
    Case(
        "black",
        "black --check .",
        (
            f"would reformat {W}/app/api.py",
            "",
            "Oh no! 💥 💔 💥",
            "1 file would be reformatted, 7 files would be left unchanged.",
        ),
        Category.LINT,
        "black",
        "would reformat",
        "app/api.py",
    ),
    Case(
        "isort",
        "isort --check-only .",
        (
            f"ERROR: {W}/app/models.py Imports are incorrectly sorted and/or formatted.",
            "Skipped 2 files",
        ),
        Category.LINT,
        "isort",
        "Imports are incorrectly sorted",
        "app/models.py",
    ),
    Case(
        "mypy",
        "mypy app",
        (
            'app/models.py:12: error: Incompatible return value type (got "str", expected "int")'
            "  [return-value]",
            "Found 1 error in 1 file (checked 8 source files)",
        ),
        Category.TYPECHECK,
        "mypy",
        "Incompatible return value type",
        "app/models.py",
        12,
    ),
    Case(
        "pyright",
        "pyright",
        (
            f"{W}/app/views.py",
            f'  {W}/app/views.py:40:12 - error: "render" is not a known attribute of module "app"'
            " (reportAttributeAccessIssue)",
            "1 error, 0 warnings, 0 informations ",
        ),
        Category.TYPECHECK,
        "pyright",
        "is not a known attribute",
        "app/views.py",
        40,
    ),
    Case(
        "pytest-assert",
        "python -m pytest",
        (
            "___________________________________ test_add ___________________________________",
            "    def test_add():",
            ">       assert add(1, 2) == 4",
            "E       assert 3 == 4",
            "E        +  where 3 = add(1, 2)",
            "",
            "tests/test_math.py:7: AssertionError",
            "=========================== short test summary info ============================",
            "FAILED tests/test_math.py::test_add - assert 3 == 4",
            "========================= 1 failed, 12 passed in 0.31s =========================",
        ),
        Category.TEST,
        "pytest",
        "E       assert 3 == 4",
        "tests/test_math.py",
        7,
    ),
    Case(
        "pytest-collection",
        "pytest",
        (
            "==================================== ERRORS ====================================",
            "____________________ ERROR collecting tests/test_api.py _____________________",
            f"ImportError while importing test module '{W}/tests/test_api.py'.",
            "E   ModuleNotFoundError: No module named 'httpx'",
            "=========================== short test summary info ============================",
            "ERROR tests/test_api.py",
            "!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!",
        ),
        Category.TEST,
        "pytest",
        "E   ModuleNotFoundError: No module named 'httpx'",
        exit_code=2,
    ),
    Case(
        "unittest",
        "python -m unittest",
        (
            "F..",
            "======================================================================",
            "FAIL: test_add (tests.test_math.MathTest.test_add)",
            "----------------------------------------------------------------------",
            "Traceback (most recent call last):",
            f'  File "{W}/tests/test_math.py", line 8, in test_add',
            "    self.assertEqual(add(1, 2), 4)",
            "AssertionError: 3 != 4",
            "",
            "----------------------------------------------------------------------",
            "Ran 3 tests in 0.001s",
            "",
            "FAILED (failures=1)",
        ),
        Category.TEST,
        "unittest",
        "AssertionError: 3 != 4",
        "tests/test_math.py",
        8,
    ),
    Case(
        "pip-conflict",
        "pip install -r requirements.txt",
        (
            "Collecting flask==3.0.0",
            "ERROR: Cannot install flask==3.0.0 and werkzeug==2.0.0 because these package versions"
            " have conflicting dependencies.",
            "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/"
            "dependency-resolution/#dealing-with-dependency-conflicts",
        ),
        Category.BUILD,
        "pip",
        "ERROR: Cannot install flask==3.0.0",
    ),
    Case(
        "pip-offline",
        "pip install requests",
        (
            "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None,"
            " status=None)) after connection broken by 'NewConnectionError('<pip._vendor."
            "urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new"
            " connection: [Errno -3]"
            " Temporary failure in name resolution')': /simple/requests/",
            "ERROR: Could not find a version that satisfies the requirement requests"
            " (from versions: none)",
            "ERROR: No matching distribution found for requests",
        ),
        Category.INFRA,
        "pip",
        "Temporary failure in name resolution",
    ),
    Case(
        "poetry-solver",
        "poetry install",
        (
            "Updating dependencies",
            "Resolving dependencies...",
            "Because proj depends on requests (^9.0) which doesn't match any versions, version"
            " solving failed.",
        ),
        Category.BUILD,
        "poetry",
        "version solving failed",
    ),
    Case(
        "poetry-readme",
        "poetry build",
        (
            "Building billing (0.3.0)",
            f"Readme path `{W}/README.rst` does not exist.",
        ),
        Category.BUILD,
        "poetry",
        "Readme path",
    ),
    Case(
        "poetry-invalid-config",
        "poetry build --no-interaction",
        (
            "The Poetry configuration is invalid:",
            "  - project.name must match pattern ^([a-zA-Z\\d]|[a-zA-Z\\d][\\w.-]*[a-zA-Z\\d])$",
        ),
        Category.BUILD,
        "poetry",
        "The Poetry configuration is invalid",
    ),
    Case(
        "eslint-unix",
        "npx eslint -f unix .",
        (
            f"{W}/src/app.js: line 3, col 7, Error - 'x' is assigned a value but never used."
            " (no-unused-vars)",
            "",
            "1 problem",
        ),
        Category.LINT,
        "eslint",
        "is assigned a value but never used",
        "src/app.js",
        3,
    ),
    Case(
        "prettier-syntax",
        "npx prettier --check src",
        (
            "Checking formatting...",
            "[error] src/app.tsx: SyntaxError: Unexpected token (3:7)",
            "All matched files use Prettier code style!",
        ),
        Category.LINT,
        "prettier",
        "[error] src/app.tsx: SyntaxError",
        "src/app.tsx",
    ),
    Case(
        "oxlint-default",
        "npx oxlint",
        (
            "",
            "  × eslint(no-debugger): `debugger` statement is not allowed",
            "    ╭─[src/cart.ts:10:5]",
            "  9 │   const total = sum(items);",
            " 10 │     debugger;",
            "    ·     ─────────",
            "    ╰────",
            "  help: Remove the debugger statement",
            "",
            "Found 0 warnings and 1 error.",
            "Finished in 4ms on 12 files with 93 rules using 4 threads.",
        ),
        Category.LINT,
        "oxlint",
        "eslint(no-debugger)",
        "src/cart.ts",
        10,
    ),
    Case(
        "biome",
        "npx biome ci .",
        (
            "src/index.ts:3:7 lint/style/useConst  FIXABLE  ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━",
            "",
            "  ✖ This let declares a variable that is only assigned once.",
            "",
            "Checked 14 files in 9ms. No fixes applied.",
            "Found 1 error.",
            "ci ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━",
            "  ✖ Some errors were emitted while running checks.",
        ),
        Category.LINT,
        "biome",
        "lint/style/useConst",
        "src/index.ts",
        3,
    ),
    Case(
        "tsc-pretty",
        "npx tsc -p . --pretty",
        (
            "src/api/client.ts:22:5 - error TS2322: Type 'number' is not assignable to type"
            " 'string'.",
            "",
            "22     id: 42,",
            "       ~~",
            "",
            "Found 1 error in src/api/client.ts:22",
        ),
        Category.TYPECHECK,
        "tsc",
        "error TS2322",
        "src/api/client.ts",
        22,
        exit_code=2,
    ),
    Case(
        "vitest",
        "npx vitest run",
        (
            " ❯ src/sum.test.ts (2 tests | 1 failed) 4ms",
            "",
            "⎯⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯",
            "",
            " FAIL  src/sum.test.ts > sum > adds two numbers",
            "AssertionError: expected 3 to be 4 // Object.is equality",
            " ❯ src/sum.test.ts:5:22",
            "",
            " Test Files  1 failed (1)",
            "      Tests  1 failed | 1 passed (2)",
        ),
        Category.TEST,
        "vitest",
        "FAIL  src/sum.test.ts > sum > adds two numbers",
        "src/sum.test.ts",
        5,
    ),
    Case(
        "mocha",
        "npx mocha",
        (
            "  Array",
            "    #indexOf()",
            "      1) should return -1 when the value is not present",
            "",
            "  0 passing (6ms)",
            "  1 failing",
            "",
            "  1) Array",
            "       #indexOf()",
            "         should return -1 when the value is not present:",
            "",
            "      AssertionError [ERR_ASSERTION]: 0 == -1",
            "      + expected - actual",
            f"      at Context.<anonymous> (file://{W}/test/array.test.js:6:14)",
            "      at process.processImmediate (node:internal/timers:478:21)",
        ),
        Category.TEST,
        "mocha",
        "AssertionError [ERR_ASSERTION]: 0 == -1",
        "test/array.test.js",
        6,
    ),
    Case(
        "webpack",
        "npx webpack --mode production",
        (
            "asset main.js 1.2 KiB [emitted] [minimized] (name: main)",
            "ERROR in ./src/index.js 3:0-28",
            f"Module not found: Error: Can't resolve './missing' in '{W}/src'",
            "",
            "webpack 5.90.0 compiled with 1 error in 412 ms",
        ),
        Category.BUILD,
        "webpack",
        "ERROR in ./src/index.js",
        "src/index.js",
    ),
    Case(
        "vite",
        "npx vite build",
        (
            "vite v5.2.0 building for production...",
            "transforming...",
            f'[vite]: Rollup failed to resolve import "lodash-es" from "{W}/src/main.ts".',
            "This is most likely unintended because it can break your application at runtime.",
            "error during build:",
        ),
        Category.BUILD,
        "vite",
        "Rollup failed to resolve import",
    ),
    Case(
        "next-prerender",
        "npm run build",
        (
            "   Generating static pages (0/5) ...",
            'Error occurred prerendering page "/dashboard". Read more: '
            "https://nextjs.org/docs/messages/prerender-error",
            "ReferenceError: localStorage is not defined",
            f"    at Dashboard ({W}/.next/server/app/dashboard/page.js:1:2345)",
            "Export encountered errors on following paths:",
            "\t/dashboard/page: /dashboard",
        ),
        Category.SSR,
        "next",
        "ReferenceError: localStorage is not defined",
    ),
    Case(
        "next-type-check",
        "npm run build",
        (
            "> web@1.0.0 build",
            "> next build",
            "",
            "✓ Compiled successfully in 3.1s",
            "  Running TypeScript ...",
            "Failed to type check.",
            "",
            "./app/lib/track.ts:1:25",
            "Type error: Cannot find module 'posthog-node' or its corresponding type declarations.",
            "",
            '> 1 | import { PostHog } from "posthog-node";',
            "    |                         ^",
            "Next.js build worker exited with code: 1 and signal: null",
        ),
        Category.TYPECHECK,
        "next",
        "Type error: Cannot find module",
    ),
    Case(
        "next-compile-type-error",
        "npm run build",
        (
            "> next build",
            "   Linting and checking validity of types ...",
            "Failed to compile.",
            "",
            "./src/app/page.tsx:5:7",
            "Type error: Type 'string' is not assignable to type 'number'.",
            "",
            "  4 | export default function Page() {",
            "> 5 |   const n: number = 'x';",
            "    |       ^",
            "Next.js build worker exited with code: 1 and signal: null",
        ),
        Category.TYPECHECK,
        "next",
        "Type error: Type 'string'",
    ),
    Case(
        "go-vet",
        "go vet ./...",
        (
            "# example.com/app",
            "# [example.com/app]",
            "./main.go:12:2: fmt.Printf format %d has arg name of wrong type string",
        ),
        Category.LINT,
        "go vet",
        "fmt.Printf format %d",
        "main.go",
        12,
    ),
    Case(
        "golangci-lint",
        "golangci-lint run",
        (
            "main.go:25:12: Error return value of `f.Close` is not checked (errcheck)",
            "\tdefer f.Close()",
            "\t           ^",
            "1 issues:",
            "* errcheck: 1",
        ),
        Category.LINT,
        "golangci-lint",
        "is not checked (errcheck)",
        "main.go",
        25,
    ),
    Case(
        "go-build",
        "go build ./...",
        (
            "# example.com/app",
            "./server.go:31:9: undefined: handleHealth",
        ),
        Category.BUILD,
        "go",
        "undefined: handleHealth",
        "server.go",
        31,
    ),
    Case(
        "go-test",
        "go test ./...",
        (
            "--- FAIL: TestParse (0.00s)",
            '    parse_test.go:14: Parse("1,2") = 3, want 2',
            "FAIL",
            "FAIL\texample.com/app\t0.004s",
        ),
        Category.TEST,
        "go test",
        "parse_test.go:14",
        "parse_test.go",
        14,
    ),
    Case(
        "clippy",
        "cargo clippy -- -D warnings",
        (
            "    Checking foo v0.1.0 (/home/runner/work/foo/foo)",
            "error: this `if` has identical blocks",
            " --> src/lib.rs:3:5",
            "  |",
            "3 |     if x { 1 } else { 1 }",
            "  |     ^^^^^^^^^^^^^^^^^^^^^",
            "  |",
            "  = help: for further information visit "
            "https://rust-lang.github.io/rust-clippy/master/index.html#if_same_then_else",
            "  = note: `#[deny(clippy::if_same_then_else)]` on by default",
            "error: could not compile `foo` (lib) due to 1 previous error",
        ),
        Category.LINT,
        "clippy",
        "error: this `if` has identical blocks",
        "src/lib.rs",
        3,
        exit_code=101,
    ),
    Case(
        "rustfmt",
        "cargo fmt --check",
        (
            "Diff in /home/runner/work/foo/foo/src/main.rs at line 1:",
            " fn main() {",
            '-    println!("hi") ;',
            '+    println!("hi");',
            " }",
        ),
        Category.LINT,
        "rustfmt",
        "Diff in",
        "src/main.rs",
        1,
    ),
    Case(
        "rustc",
        "cargo build --locked",
        (
            "   Compiling foo v0.1.0 (/home/runner/work/foo/foo)",
            "error[E0308]: mismatched types",
            " --> src/lib.rs:3:5",
            "  |",
            '3 |     "x"',
            "  |     ^^^ expected `i32`, found `&str`",
            "",
            "For more information about this error, try `rustc --explain E0308`.",
            "error: could not compile `foo` (lib) due to 1 previous error",
        ),
        Category.BUILD,
        "cargo",
        "error[E0308]: mismatched types",
        "src/lib.rs",
        3,
        exit_code=101,
    ),
    Case(
        "gcc",
        "make",
        (
            "cc -O2 -c src/main.c -o main.o",
            "src/main.c:5:10: fatal error: missing.h: No such file or directory",
            '    5 | #include "missing.h"',
            "compilation terminated.",
            "make: *** [Makefile:4: main.o] Error 1",
        ),
        Category.BUILD,
        "gcc",
        "fatal error: missing.h",
        "src/main.c",
        5,
        exit_code=2,
    ),
    Case(
        "linker",
        "make",
        (
            "/usr/bin/ld: main.o: in function `main':",
            "main.c:(.text+0x13): undefined reference to `helper'",
            "collect2: error: ld returned 1 exit status",
            "make: *** [Makefile:7: app] Error 1",
        ),
        Category.BUILD,
        "ld",
        "undefined reference to `helper'",
        exit_code=2,
    ),
    Case(
        "docker",
        "docker build .",
        (
            "#8 [build 4/6] RUN npm ci",
            "#8 2.113 npm error code EUSAGE",
            '#8 ERROR: process "/bin/sh -c npm ci" did not complete successfully: exit code: 1',
            "------",
            " > [build 4/6] RUN npm ci:",
            "------",
            "Dockerfile:7",
            'ERROR: failed to solve: process "/bin/sh -c npm ci" did not complete successfully:'
            " exit code: 1",
        ),
        Category.BUILD,
        "docker",
        "did not complete successfully",
    ),
    Case(
        "docker-rate-limit",
        "docker build .",
        (
            "#2 [internal] load metadata for docker.io/library/node:20",
            "ERROR: failed to solve: node:20: failed to resolve source metadata for"
            " docker.io/library/node:20: unexpected status code: 429 Too Many Requests -"
            " Server message: toomanyrequests: You have reached your pull rate limit.",
        ),
        Category.INFRA,
        "docker",
        "toomanyrequests",
    ),
    Case(
        "cargo-test-old-panic",
        "cargo test",
        (
            "running 2 tests",
            "test tests::adds ... FAILED",
            "---- tests::adds stdout ----",
            "thread 'tests::adds' panicked at 'assertion failed: `(left == right)`",
            "  left: `1`,",
            " right: `2`', src/lib.rs:10:5",
            "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out",
        ),
        Category.TEST,
        "cargo test",
        "thread 'tests::adds' panicked at",
        exit_code=101,
    ),
    Case(
        "esbuild-via-vite",
        "npx vite build",
        (
            "vite v5.0.0 building for production...",
            "x Build failed in 120ms",
            "error during build:",
            "[vite:esbuild] Transform failed with 1 error:",
            f'{W}/src/main.ts:3:10: ERROR: Expected ";" but found "x"',
        ),
        Category.BUILD,
        "vite",
        'src/main.ts:3:10: ERROR: Expected ";"',
        "src/main.ts",
        3,
    ),
    Case(
        "canceled",
        "./deploy.sh",
        (
            "deploying...",
            "##[error]The operation was canceled.",
        ),
        Category.INFRA,
        "runner",
        "The operation was canceled.",
    ),
    Case(
        "disk-full",
        "python build_index.py",
        (
            "Traceback (most recent call last):",
            '  File "build_index.py", line 9, in <module>',
            "OSError: [Errno 28] No space left on device",
        ),
        Category.INFRA,
        "runner",
        "No space left on device",
    ),
    Case(
        "docker-disk-full",
        "docker build -t app .",
        (
            "#9 [4/6] COPY . .",
            "#9 ERROR: failed to copy files: write /var/lib/docker/overlay2/x/a.bin:"
            " no space left on device",
            "------",
            " > [4/6] COPY . .:",
            "------",
            "ERROR: failed to solve: failed to copy files: write"
            " /var/lib/docker/overlay2/x/a.bin: no space left on device",
        ),
        Category.INFRA,
        "runner",
        "no space left on device",
    ),
    Case(
        "npm-econnreset",
        "npm ci",
        (
            "npm error code ECONNRESET",
            "npm error network aborted",
            "npm error network This is a problem related to network connectivity.",
        ),
        Category.INFRA,
        "npm",
        "npm error code ECONNRESET",
    ),
    Case(
        "registry-503",
        "npm install",
        (
            "npm error code E503",
            "npm error 503 Service Unavailable - GET https://registry.npmjs.org/left-pad",
        ),
        Category.INFRA,
        "npm",
        "E503",
    ),
    Case(
        "git-dns",
        "git clone https://github.com/acme/x",
        (
            "Cloning into 'x'...",
            "fatal: unable to access 'https://github.com/acme/x/': Could not resolve host:"
            " github.com",
        ),
        Category.INFRA,
        "git",
        "Could not resolve host",
        exit_code=128,
    ),
    Case(
        "oom-killed",
        "./train.sh",
        (
            "epoch 1/10",
            "Killed",
        ),
        Category.INFRA,
        "oom",
        "Killed",
        exit_code=137,
    ),
    Case(
        "rspec",
        "bundle exec rspec",
        (
            "..F",
            "Failures:",
            "  1) Invoice#total adds tax",
            "     Failure/Error: expect(invoice.total).to eq(119)",
            "       expected: 119",
            "            got: 100",
            "     # ./spec/invoice_spec.rb:12:in `block (2 levels) in <top (required)>'",
            "3 examples, 1 failure",
            "rspec ./spec/invoice_spec.rb:10 # Invoice#total adds tax",
        ),
        Category.TEST,
        "rspec",
        "Failure/Error: expect(invoice.total).to eq(119)",
    ),
    Case(
        "rubocop",
        "bundle exec rubocop",
        (
            "Inspecting 12 files",
            "....C.......",
            "Offenses:",
            "app/models/user.rb:4:3: C: [Correctable] Style/StringLiterals: Prefer single-quoted"
            " strings.",
            "12 files inspected, 1 offense detected, 1 offense autocorrectable",
        ),
        Category.LINT,
        "rubocop",
        "Style/StringLiterals",
        "app/models/user.rb",
        4,
    ),
    Case(
        "phpunit",
        "vendor/bin/phpunit",
        (
            "There was 1 failure:",
            "1) Tests\\CartTest::testTotal",
            "Failed asserting that 10 matches expected 12.",
            "/home/runner/work/shop/shop/tests/CartTest.php:21",
            "FAILURES!",
            "Tests: 8, Assertions: 9, Failures: 1.",
        ),
        Category.TEST,
        "phpunit",
        "Failed asserting that 10 matches expected 12.",
    ),
    Case(
        "phpstan",
        "vendor/bin/phpstan analyse --no-progress",
        (
            " ------ -----------------------------------------",
            "  Line   src/Cart.php",
            " ------ -----------------------------------------",
            "  18     Method Cart::total() should return int but returns string.",
            " ------ -----------------------------------------",
            " [ERROR] Found 1 error",
        ),
        Category.TYPECHECK,
        "phpstan",
        "Method Cart::total() should return int but returns string.",
        "src/Cart.php",
        18,
    ),
    Case(
        "exunit",
        "mix test",
        (
            "  1) test parses dates (DateParserTest)",
            "     test/date_parser_test.exs:8",
            "     Assertion with == failed",
            '     code:  assert DateParser.parse("2024-01-02") == ~D[2024-01-02]',
            "     left:  nil",
            "7 tests, 1 failure",
        ),
        Category.TEST,
        "exunit",
        "Assertion with == failed",
    ),
    Case(
        "dotnet-build",
        "dotnet build --no-restore",
        (
            "/home/runner/work/api/api/src/Orders/OrderService.cs(42,17): error CS0103: The name"
            " 'total' does not exist in the current context [/home/runner/work/api/api/src/Orders"
            "/Orders.csproj]",
            "Build FAILED.",
        ),
        Category.BUILD,
        "dotnet",
        "error CS0103",
        "src/Orders/OrderService.cs",
        42,
    ),
    Case(
        "dotnet-test",
        "dotnet test --no-build",
        (
            "  Failed Orders.Tests.TotalTests.AddsVat [12 ms]",
            "  Error Message:",
            "   Assert.Equal() Failure: Values differ",
            "Failed!  - Failed:     1, Passed:    41, Skipped:     0, Total:    42",
        ),
        Category.TEST,
        "dotnet test",
        "Assert.Equal() Failure",
    ),
    Case(
        "msvc",
        "cmake --build build --config Release",
        (
            "  parser.cpp",
            r"D:\a\tool\tool\src\parser.cpp(88,5): error C2065: 'tokn': undeclared identifier"
            r" [D:\a\tool\tool\build\tool.vcxproj]",
        ),
        Category.BUILD,
        "msvc",
        "error C2065",
    ),
    Case(
        "kotlin",
        "./gradlew assembleDebug",
        (
            "> Task :app:compileDebugKotlin FAILED",
            "e: file:///home/runner/work/app/app/app/src/main/java/com/acme/Main.kt:14:9"
            " Unresolved reference 'greet'.",
            "FAILURE: Build failed with an exception.",
        ),
        Category.BUILD,
        "kotlin",
        "Unresolved reference 'greet'",
    ),
    Case(
        "gradle-test",
        "./gradlew test",
        (
            "> Task :test FAILED",
            "CartTest > totalIncludesVat() FAILED",
            "    org.opentest4j.AssertionFailedError: expected: <119> but was: <100>",
            "12 tests completed, 1 failed",
            "FAILURE: Build failed with an exception.",
        ),
        Category.TEST,
        "gradle",
        "org.opentest4j.AssertionFailedError",
    ),
    Case(
        "maven-surefire",
        "mvn -B verify",
        (
            "[ERROR] Failures: ",
            "[ERROR]   CartTest.totalIncludesVat:31 expected: <119> but was: <100>",
            "[ERROR] Tests run: 12, Failures: 1, Errors: 0, Skipped: 0",
            "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:3.2.5"
            ":test (default-test) on project cart: There are test failures.",
        ),
        Category.TEST,
        "maven",
        "CartTest.totalIncludesVat:31",
    ),
    Case(
        "swift",
        "swift build",
        (
            "[3/9] Compiling Core Parser.swift",
            "/home/runner/work/kit/kit/Sources/Core/Parser.swift:27:16: error: cannot find"
            " 'tokens' in scope",
        ),
        Category.BUILD,
        "swift",
        "cannot find 'tokens' in scope",
        "Sources/Core/Parser.swift",
        27,
    ),
    Case(
        "terraform",
        "terraform validate",
        (
            "╷",
            "│ Error: Unsupported argument",
            "│ ",
            '│   on network.tf line 12, in resource "aws_vpc" "main":',
            "│   12:   cidr = var.cidr",
            "╵",
        ),
        Category.BUILD,
        "terraform",
        "Error: Unsupported argument",
        "network.tf",
        12,
    ),
    Case(
        "gofmt",
        'gofmt -d . && test -z "$(gofmt -l .)"',
        (
            "diff -u server/handler.go.orig server/handler.go",
            "--- server/handler.go.orig",
            "+++ server/handler.go",
        ),
        Category.LINT,
        "gofmt",
        "diff -u server/handler.go.orig",
        "server/handler.go",
        None,
    ),
    Case(
        "go-vet",
        "go vet ./...",
        (
            "# example.com/app/store",
            "store/cache.go:41:2: unreachable code",
        ),
        Category.LINT,
        "go vet",
        "unreachable code",
        "store/cache.go",
        41,
    ),
    Case(
        "cypress",
        "npx cypress run",
        (
            "  1) login",
            "       shows the dashboard:",
            "     AssertionError: Timed out retrying after 4000ms: Expected to find element:"
            " `[data-cy=dashboard]`, but never found it.",
            "  ✖  1 of 3 failed (33%)",
        ),
        Category.TEST,
        "cypress",
        "AssertionError: Timed out retrying",
    ),
    Case(
        "nuxt-prerender",
        "npx nuxi generate",
        (
            "  ├─ /about (12ms)",
            "  │ └── [500] Server Error",
            "Errors prerendering:",
            "  ├─ /about (12ms)",
            " ERROR  Exiting due to prerender errors.",
        ),
        Category.SSR,
        "nuxt",
        "Exiting due to prerender errors",
    ),
    Case(
        "sveltekit-prerender",
        "npm run build",
        (
            "Error: 404 /docs/intro (linked from /)",
            "To suppress or handle this error, implement `handleHttpError` in"
            " https://svelte.dev/docs/kit/configuration#prerender",
        ),
        Category.SSR,
        "sveltekit",
        "Error: 404 /docs/intro",
    ),
    Case(
        "astro-check",
        "npx astro check",
        (
            "src/pages/blog/[slug].astro:9:7 - error ts(2339): Property 'date' does not exist on"
            " type 'Props'.",
            "Result (21 files): ",
            "- 1 error",
        ),
        Category.TYPECHECK,
        "astro",
        "Property 'date' does not exist",
        "src/pages/blog/[slug].astro",
        9,
    ),
    Case(
        "vitest-typecheck",
        "npx vitest --typecheck --run",
        (
            " FAIL  test/api.test-d.ts > fetchUser returns a user",
            "TypeCheckError: Expected 1 arguments, but got 0.",
            " ❯ test/api.test-d.ts:6:3",
            "  Type Errors  1 failed",
        ),
        Category.TYPECHECK,
        "vitest",
        "TypeCheckError: Expected 1 arguments",
        "test/api.test-d.ts",
        6,
    ),
    Case(
        "pytest-mypy",
        "pytest --mypy",
        (
            "___________________________ [mypy] src/shop/cart.py ___________________________",
            '14: error: Argument 1 to "total" has incompatible type "str"; expected "int"'
            "  [arg-type]",
            "FAILED src/shop/cart.py::mypy",
            "FAILED src/shop/__init__.py::mypy-status - mypy exited with status 1.",
        ),
        Category.TYPECHECK,
        "mypy",
        'Argument 1 to "total" has incompatible type',
    ),
    Case(
        "killed-mid-test",
        "pytest -v",
        (
            "tests/test_models.py::test_create PASSED                                 [ 10%]",
            "tests/test_models.py::test_bulk_import",
        ),
        Category.INFRA,
        "oom",
        "Process completed with exit code -9",
        exit_code=-9,
    ),
    Case(
        "stopped-by-timeout",
        "timeout 10m npm test",
        ("> web@1.0.0 test", "> jest --runInBand", "PASS src/a.test.js"),
        Category.INFRA,
        "runner",
        "Process completed with exit code 124",
        exit_code=124,
    ),
    Case(
        "bundler-resolution",
        "bundle install",
        (
            "Fetching gem metadata from https://rubygems.org/.........",
            "Resolving dependencies...",
            'Bundler could not find compatible versions for gem "rack":',
            "  In Gemfile:",
            "    rails (~> 7.1) was resolved to 7.1.3, which depends on",
            "      rack (>= 2.2.4)",
        ),
        Category.BUILD,
        "bundler",
        "Bundler could not find compatible versions for gem",
    ),
    Case(
        "composer-resolution",
        "composer install --no-interaction",
        (
            "Loading composer repositories with package information",
            "Your requirements could not be resolved to an installable set of packages.",
            "  Problem 1",
            "    - Root composer.json requires php ^8.3 but your php version (8.2.20) does not"
            " satisfy that requirement.",
        ),
        Category.BUILD,
        "composer",
        "Your requirements could not be resolved",
    ),
    Case(
        "yarn-frozen-lockfile",
        "yarn install --frozen-lockfile",
        (
            "yarn install v1.22.22",
            "[1/4] Resolving packages...",
            "error Your lockfile needs to be updated, but yarn was run with `--frozen-lockfile`.",
            "info Visit https://yarnpkg.com/en/docs/cli/install for documentation about this"
            " command.",
        ),
        Category.BUILD,
        "yarn",
        "Your lockfile needs to be updated",
    ),
    Case(
        "gradle-resolution",
        "./gradlew build",
        (
            "FAILURE: Build failed with an exception.",
            "* What went wrong:",
            "Execution failed for task ':app:compileJava'.",
            "> Could not resolve all files for configuration ':app:compileClasspath'.",
            "   > Could not find com.acme:billing-client:2.4.1.",
        ),
        Category.BUILD,
        "gradle",
        "Could not resolve all files for configuration",
    ),
    Case(
        "swiftlint",
        "swiftlint lint --strict",
        (
            "Linting Swift files in current working directory",
            "/Users/runner/work/app/app/Sources/App/Cart.swift:41:121: error:"
            " Line Length Violation: Line should be 120 characters or less; currently it has 134"
            " characters"
            " (line_length)",
            "Done linting! Found 1 violation, 1 serious in 58 files.",
        ),
        Category.LINT,
        "swiftlint",
        "Line Length Violation",
        "Sources/App/Cart.swift",
        41,
    ),
    Case(
        "github-token-permissions",
        "actions/github-script@v7",
        (
            "RequestError [HttpError]: Resource not accessible by integration",
            "    at /home/runner/work/_actions/actions/github-script/v7/dist/index.js:9537:21",
            "  status: 403,",
        ),
        Category.INFRA,
        "github-api",
        "Resource not accessible by integration",
    ),
    Case(
        "codecov-upload",
        "codecov/codecov-action@v4",
        (
            "[2024-05-01T10:00:00.000Z] ['error'] There was an error running the uploader:"
            " Error uploading to https://codecov.io: Error: There was an error fetching the"
            " storage URL during POST: 429 - {'detail': ErrorDetail(string='Rate limit reached.')}",
            "Error: Codecov: Failed to properly upload: The process"
            " '/home/runner/work/_actions/codecov/codecov-action/v4/dist/codecov' failed with exit"
            " code 255",
        ),
        Category.INFRA,
        "codecov",
        "Error uploading to https://codecov.io",
    ),
    Case(
        "apt-mirror-404",
        "sudo apt-get install -y libpq-dev",
        (
            "E: Failed to fetch http://azure.archive.ubuntu.com/ubuntu/pool/main/p/postgresql-16"
            "/libpq5_16.3-0ubuntu0.24.04.1_amd64.deb  404  Not Found [IP: 52.147.219.192 80]",
            "E: Unable to fetch some archives, maybe run apt-get update or try with --fix-missing?",
        ),
        Category.INFRA,
        "apt",
        "404  Not Found",
        exit_code=100,
    ),
    Case(
        "hadolint",
        "hadolint Dockerfile",
        (
            "Dockerfile:7 DL3008 warning: Pin versions in apt get install. Instead of `apt-get"
            " install <package>` use `apt-get install <package>=<version>`",
            "Dockerfile:12 DL3025 warning: Use arguments JSON notation for CMD and ENTRYPOINT"
            " arguments",
        ),
        Category.LINT,
        "hadolint",
        "DL3008 warning: Pin versions in apt get install",
        "Dockerfile",
        7,
    ),
    Case(
        "commitlint",
        "npx commitlint --from origin/main",
        (
            "⧗   input: Fixed the thing",
            "✖   subject may not be empty [subject-empty]",
            "✖   type may not be empty [type-empty]",
            "",
            "✖   found 2 problems, 0 warnings",
        ),
        Category.LINT,
        "commitlint",
        "subject may not be empty [subject-empty]",
    ),
    Case(
        "pre-commit-black",
        "pre-commit run --all-files",
        (
            "[INFO] Initializing environment for https://github.com/psf/black.",
            "black....................................................................Failed",
            "- hook id: black",
            "- files were modified by this hook",
            "",
            "reformatted src/shop/cart.py",
            "",
            "All done! ✨ 🍰 ✨",
            "1 file reformatted, 12 files left unchanged.",
            "",
            "trim trailing whitespace.................................................Passed",
        ),
        Category.LINT,
        "black",
        "reformatted src/shop/cart.py",
        "src/shop/cart.py",
        None,
    ),
    Case(
        "unknown",
        "./scripts/release-check.sh",
        ("checking release notes",),
        Category.UNKNOWN,
        None,
        "checking release notes",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_tool_is_recognised_with_its_key_line(case: Case) -> None:
    log = actions_log(
        case.command,
        case.output,
        exit_code=case.exit_code,
        before=[("actions/checkout@v4", ["Syncing repository: acme/proj"])],
    )
    diagnosis = classify_text(log, [case.job])
    assert diagnosis.category is case.category, diagnosis.key_lines[:3]
    assert diagnosis.tool == case.tool
    top = diagnosis.key_lines[0]
    assert case.key in top.text, [k.text for k in diagnosis.key_lines[:3]]
    if case.file is not None:
        assert (top.file, top.line) == (case.file, case.line)
    assert top.step == f"Run {case.command}"
    assert diagnosis.failed_steps == (f"Run {case.command}",)


def test_key_lines_keep_the_log_text_without_timestamp_or_colour() -> None:
    log = actions_log(
        "pytest",
        [
            "\x1b[31mE       KeyError: 'AT'\x1b[0m",
            "\x1b[31mFAILED\x1b[0m tests/test_t.py::test_at - KeyError: 'AT'",
        ],
    )
    texts = [k.text for k in classify_text(log).key_lines]
    assert texts[:2] == [
        "E       KeyError: 'AT'",
        "FAILED tests/test_t.py::test_at - KeyError: 'AT'",
    ]


def test_the_generic_exit_line_ranks_below_real_evidence_and_alone_is_the_key_line() -> None:
    with_evidence = classify_text(
        actions_log("npx tsc", ["a.ts(1,1): error TS1005: ';' expected."])
    )
    assert with_evidence.key_lines[0].text.startswith("a.ts(1,1)")
    assert with_evidence.key_lines[-1].text == "##[error]Process completed with exit code 1."
    silent = classify_text(actions_log("test -f dist/out.json", []))
    assert silent.category is Category.UNKNOWN
    assert [k.text for k in silent.key_lines] == ["##[error]Process completed with exit code 1."]


def test_lines_a_rule_knows_are_no_cause_never_become_fallback_key_lines() -> None:
    pytest_log = actions_log(
        "pytest -q",
        [
            "..F.....                                                                 [100%]",
            "=================================== FAILURES ===================================",
            "_________________________________ test_total __________________________________",
            ">       assert cart_total([1, 2]) == 4",
            "E       assert 3 == 4",
            "",
            "tests/test_cart.py:7: AssertionError",
            "=========================== short test summary info ============================",
            "FAILED tests/test_cart.py::test_total - assert 3 == 4",
            "1 failed, 7 passed in 0.12s",
        ],
    )
    texts = [k.text for k in classify_text(pytest_log).key_lines]
    assert texts[:2] == [
        "E       assert 3 == 4",
        "FAILED tests/test_cart.py::test_total - assert 3 == 4",
    ]
    assert not [t for t in texts if t.startswith("====")]
    poetry_log = actions_log(
        "poetry build",
        [
            "Building billing (0.3.0)",
            "  - Building sdist",
            f"{W}/src/billing does not contain any element",
        ],
    )
    texts = [k.text for k in classify_text(poetry_log).key_lines]
    assert texts == [
        f"{W}/src/billing does not contain any element",
        "##[error]Process completed with exit code 1.",
    ]


def test_warnings_of_a_step_that_passed_neither_outvote_nor_outrank_the_failing_step() -> None:
    warnings = [
        f"::warning file=src/cart.js,line={n},col=7,title=eslint(no-unused-vars)::Variable"
        " 'x' is declared but never used."
        for n in (3, 9, 14)
    ]
    log = actions_log(
        "npx mocha",
        [
            "  cart",
            "    1) sums the lines",
            "",
            "  0 passing (4ms)",
            "  1 failing",
            "",
            "  1) cart",
            "       sums the lines:",
            "     AssertionError [ERR_ASSERTION]: 30 == 31",
            "      at Context.<anonymous> (test/cart.test.js:6:12)",
        ],
        before=[("npx oxlint", [*warnings, "Found 3 warnings and 0 errors."])],
    )
    diagnosis = classify_text(log, ["ci"])
    assert diagnosis.category is Category.TEST
    assert diagnosis.key_lines[0].text == "AssertionError [ERR_ASSERTION]: 30 == 31"
    assert not [k for k in diagnosis.key_lines if k.text.startswith("::warning")]


def test_job_names_are_weak_evidence_only() -> None:
    tsc = actions_log("npm run check", ["src/a.ts(4,2): error TS2304: Cannot find name 'x'."])
    assert classify_text(tsc, ["lint"]).category is Category.TYPECHECK
    silent = actions_log("./check.sh", ["nothing recognisable"])
    assert classify_text(silent, ["typecheck"]).category is Category.UNKNOWN
    assert classify_text(silent, ["check"]).category is Category.UNKNOWN


def test_browser_globals_in_a_failing_jest_test_are_a_test_failure() -> None:
    log = actions_log(
        "npx jest",
        [
            "FAIL src/banner.test.js",
            "  ● Banner › reads the consent cookie",
            "",
            "    ReferenceError: window is not defined",
            "",
            "      at Object.<anonymous> (src/banner.test.js:4:5)",
            "",
            "Tests:       1 failed, 3 passed, 4 total",
        ],
    )
    diagnosis = classify_text(log)
    assert diagnosis.category is Category.TEST
    assert diagnosis.tool == "jest"


def test_a_memory_error_inside_pytest_is_a_test_failure() -> None:
    log = actions_log(
        "pytest",
        [
            "    def test_chunking():",
            ">       data = make_buffer(-1)",
            "E       MemoryError",
            "",
            "tests/test_chunks.py:9: MemoryError",
            "FAILED tests/test_chunks.py::test_chunking - MemoryError",
            "========================= 1 failed, 4 passed in 0.20s =========================",
        ],
    )
    assert classify_text(log).category is Category.TEST


def test_a_server_error_asserted_by_a_test_is_a_test_failure() -> None:
    log = actions_log(
        "pytest",
        [
            "E       AssertionError: unexpected status code 500",
            "tests/test_api.py:14: AssertionError",
            "FAILED tests/test_api.py::test_get_user - AssertionError: unexpected status code 500",
            "========================= 1 failed in 0.12s =========================",
        ],
    )
    assert classify_text(log).category is Category.TEST


def test_runner_paths_are_made_repo_relative() -> None:
    assert repo_path("/home/runner/work/shop/shop/src/a.ts") == "src/a.ts"
    assert repo_path("file:///home/runner/work/shop/shop/lib/x.js") == "lib/x.js"
    assert repo_path("D:\\a\\shop\\shop\\src\\main.rs") == "src/main.rs"
    assert repo_path("./pkg/x.go") == "pkg/x.go"
    assert repo_path("/home/runner/work/_temp/abc.sh") is None


def test_annotations_vote_and_name_files_when_the_log_is_gone() -> None:
    empty = JobLog(job_name="lint", parsed=parse_log(b""))
    note = Annotation(
        path="src/app.py",
        start_line=3,
        message="src/app.py:3:8: F401 [*] `os` imported but unused",
        title="Ruff (F401)",
    )
    diagnosis = classify([empty], [note])
    assert diagnosis.category is Category.LINT
    assert diagnosis.tool == "ruff"
    assert (diagnosis.key_lines[0].file, diagnosis.key_lines[0].line) == ("src/app.py", 3)
    assert any("empty" in n for n in diagnosis.notes)


def test_a_lost_runner_reported_only_by_annotation_is_infra() -> None:
    note = Annotation(
        path=".github",
        start_line=None,
        annotation_level="failure",
        message="The hosted runner: GitHub Actions 7 lost communication with the "
        "server. Anything in your workflow that terminates the runner process, "
        "starves it for CPU/Memory, or blocks its network access can cause this.",
    )
    diagnosis = classify([JobLog("build", parse_log(b""))], [note])
    assert diagnosis.category is Category.INFRA
    assert diagnosis.key_lines[0].file is None


def test_several_jobs_are_merged_into_one_diagnosis() -> None:
    a = JobLog(
        "test (3.11)",
        parse_log(actions_log("pytest", ["E   KeyError: 'x'", "FAILED tests/test_a.py::test_a"])),
    )
    b = JobLog(
        "test (3.12)",
        parse_log(actions_log("pytest", ["E   KeyError: 'y'", "FAILED tests/test_b.py::test_b"])),
        failed_steps=("Run tests",),
    )
    diagnosis = classify([a, b])
    assert diagnosis.category is Category.TEST
    assert diagnosis.failed_jobs == ("test (3.11)", "test (3.12)")
    assert diagnosis.failed_steps == ("Run pytest", "Run tests")
    assert {k.job for k in diagnosis.key_lines[:4]} == {"test (3.11)", "test (3.12)"}


def test_the_excerpt_is_the_end_of_the_failing_step_output() -> None:
    output = [f"progress {i:05d}" for i in range(3000)] + ["E   KeyError: 'z'"]
    diagnosis = classify_text(actions_log("pytest", output))
    assert len(diagnosis.excerpt) == 8000
    assert diagnosis.excerpt.endswith(
        "E   KeyError: 'z'\n##[error]Process completed with exit code 1."
    )
    assert "Run pytest" not in diagnosis.excerpt


def test_a_log_without_step_markers_is_classified_as_an_excerpt() -> None:
    diagnosis = classify_text(b"src/a.ts(1,1): error TS2304: Cannot find name 'y'.\n")
    assert diagnosis.category is Category.TYPECHECK
    assert any("excerpt without the runner's step markers" in n for n in diagnosis.notes)


def test_the_cli_prints_json_and_human_output_in_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "job.log"
    path.write_text(actions_log("npx tsc", ["src/x.ts(2,3): error TS2322: Type 'a' is bad."]))
    result = subprocess.run(
        [sys.executable, "-m", "app", "classify", str(path), "--job", "types", "--json"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(result.stdout)
    assert data["category"] == "typecheck"
    assert data["tool"] == "tsc"
    assert data["failed_jobs"] == ["types"]
    assert data["key_lines"][0] | {"score": 0} == {
        "text": "src/x.ts(2,3): error TS2322: Type 'a' is bad.",
        "file": "src/x.ts",
        "line": 2,
        "job": "types",
        "step": "Run npx tsc",
        "score": 0,
    }
    human = subprocess.run(
        [sys.executable, "-m", "app", "classify", "-"],
        cwd=REPO_ROOT,
        input=path.read_bytes(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "category:   typecheck" in human
    assert "[src/x.ts:2] src/x.ts(2,3): error TS2322" in human


def test_the_cli_explains_an_unreadable_log(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "classify", str(tmp_path / "missing.log")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Cannot read the log" in result.stderr
    assert "standard input" in result.stderr


def _job(log: str, conclusion: str | None = "failure", failed: tuple[str, ...] = ()) -> JobLog:
    parsed = parse_log(log)
    return JobLog(job_name="test", parsed=parsed, failed_steps=failed, conclusion=conclusion)


def test_a_job_github_cancelled_is_infra_whatever_its_log_holds() -> None:
    log = actions_log("pytest", ["E   AssertionError: assert 1 == 2", "FAILED tests/t.py::test_a"])
    diagnosis = classify([_job(log, "cancelled")])
    assert diagnosis.category is Category.INFRA
    assert any("cancelled" in note for note in diagnosis.notes)
    # The log still says what was running when it stopped.
    assert diagnosis.key_lines


def test_a_timed_out_job_is_infra_when_no_job_failed_on_its_own() -> None:
    slow = actions_log("pytest", ["tests/t.py::test_slow", "E   AssertionError"], exit_code=None)
    diagnosis = classify([_job(slow, "timed_out")])
    assert diagnosis.category is Category.INFRA
    assert any("timed out" in note for note in diagnosis.notes)


def test_a_timed_out_job_beside_a_failed_one_is_set_aside_and_said_so() -> None:
    failed = actions_log("ruff check .", ["src/a.py:1:8: F401 [*] `os` imported but unused"])
    slow = actions_log("pytest", ["E   AssertionError: assert 1 == 2"], exit_code=None)
    diagnosis = classify([_job(failed), _job(slow, "timed_out")])
    assert diagnosis.category is Category.LINT
    assert "AssertionError" not in " ".join(k.text for k in diagnosis.key_lines)
    assert any("timed out by GitHub" in note for note in diagnosis.notes)


def test_a_cancelled_job_beside_a_real_failure_does_not_hide_it() -> None:
    failed = actions_log("ruff check .", ["src/a.py:1:8: F401 [*] `os` imported but unused"])
    stopped = actions_log("pytest", ["tests/t.py::test_slow"], exit_code=None)
    diagnosis = classify([_job(failed), _job(stopped, "cancelled")])
    assert diagnosis.category is Category.LINT


def test_a_job_that_failed_in_set_up_job_is_infra() -> None:
    log = (
        "2026-11-20T10:00:00.0000000Z Current runner version: '2.329.0'\n"
        "2026-11-20T10:00:00.1000000Z ##[group]Operating System\n"
        "2026-11-20T10:00:00.2000000Z Ubuntu\n"
        "2026-11-20T10:00:00.3000000Z ##[endgroup]\n"
        "2026-11-20T10:00:00.4000000Z Prepare all required actions\n"
        "2026-11-20T10:00:00.5000000Z ##[error]Could not fetch acme/deploy@v9: nothing here\n"
    )
    from_log = classify_text(log)
    from_api = classify([_job(log, failed=("Set up job",))])
    assert from_log.category is from_api.category is Category.INFRA
    assert from_log.key_lines[0].text == "##[error]Could not fetch acme/deploy@v9: nothing here"


def test_a_web_ui_excerpt_is_judged_by_its_command_when_its_output_is_bare() -> None:
    text = "Run gofmt -l .\n  gofmt -l .\n  shell: /usr/bin/bash -e {0}\napi/server.go\n"
    diagnosis = classify_text(text + "Error: Process completed with exit code 1.\n")
    assert diagnosis.category is Category.LINT
    assert diagnosis.tool == "gofmt"
    assert diagnosis.key_lines[0].text == "api/server.go"
    assert diagnosis.confidence < 0.5


def test_unknown_output_still_offers_its_error_looking_lines_ranked() -> None:
    output = [
        "collecting assets",
        "assets: permission denied while writing dist/app.css",
        "cleanup started",
        "cleanup finished",
        "bye",
    ]
    diagnosis = classify_text(actions_log("./scripts/pack.sh", output))
    assert diagnosis.category is Category.UNKNOWN
    assert diagnosis.key_lines[0].text == "assets: permission denied while writing dist/app.css"
    assert {"bye", "cleanup finished"} <= {k.text for k in diagnosis.key_lines[1:4]}


def test_the_web_ui_error_prefix_is_read_as_the_runner_marker_and_as_text() -> None:
    text = "Error: 500 /pricing (linked from /)\nError: Process completed with exit code 1.\n"
    diagnosis = classify_text(text)
    assert diagnosis.category is Category.SSR
    assert diagnosis.key_lines[0].text == "Error: 500 /pricing (linked from /)"


def test_the_cli_reads_a_run_log_archive_and_gh_log_failed_output(tmp_path: Path) -> None:
    failing = actions_log("bundle exec rspec", ["     Failure/Error: expect(x).to eq(1)"])
    passing = actions_log("echo ok", ["ok"], exit_code=None)
    archive = tmp_path / "logs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("0_lint.txt", passing)
        zf.writestr("1_test (3.3).txt", failing)
        zf.writestr("test (3.3)/1_Set up job.txt", passing)
    args = argparse.Namespace(logfile=str(archive), job=[], json=True, conclusion=None)
    out = io.StringIO()
    assert cli.run(args, out) == 0
    data = json.loads(out.getvalue())
    assert data["category"] == "test"
    assert data["failed_jobs"] == ["test (3.3)"]

    gh = tmp_path / "failed.txt"
    gh.write_text("".join(f"test\tRun bundle exec rspec\t{x}\n" for x in failing.splitlines()))
    out = io.StringIO()
    assert cli.run(argparse.Namespace(logfile=str(gh), job=[], json=True), out) == 0
    assert json.loads(out.getvalue())["failed_steps"] == ["Run bundle exec rspec"]


def test_the_cli_reads_a_log_saved_as_utf16_by_powershell(tmp_path: Path) -> None:
    text = actions_log("bundle exec rspec", ["     Failure/Error: expect(x).to eq(1)"])
    path = tmp_path / "job.log"
    path.write_bytes(codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le"))
    out = io.StringIO()
    args = argparse.Namespace(logfile=str(path), job=[], json=True, conclusion=None)
    assert cli.run(args, out) == 0
    data = json.loads(out.getvalue())
    assert data["category"] == "test"
    assert data["key_lines"][0]["text"] == "Failure/Error: expect(x).to eq(1)"


def test_the_cli_ends_quietly_when_its_reader_goes_away(tmp_path: Path) -> None:
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    path = tmp_path / "job.log"
    path.write_text(actions_log("npx tsc", ["src/x.ts(2,3): error TS2322: Type 'a' is bad."]))
    args = argparse.Namespace(logfile=str(path), job=[], json=False, conclusion=None)
    assert cli.run(args, ClosedPipe()) == 0


def test_the_cli_explains_a_broken_archive(tmp_path: Path) -> None:
    path = tmp_path / "logs.zip"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    result = subprocess.run(
        [sys.executable, "-m", "app", "classify", str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Cannot read the log archive" in result.stderr


def test_when_rules_find_the_cause_error_looking_noise_is_not_offered() -> None:
    output = [
        "E       KeyError: 'AT'",
        "FAILED tests/test_tax.py::test_at - KeyError: 'AT'",
        "note from a fixture: cache error ignored, continuing",
        "one",
        "two",
        "three",
    ]
    diagnosis = classify_text(actions_log("pytest", output))
    texts = [k.text for k in diagnosis.key_lines]
    assert texts[0] == "E       KeyError: 'AT'"
    assert "note from a fixture: cache error ignored, continuing" not in texts


@pytest.mark.parametrize(
    "line",
    [
        "sh: 1: vite: not found",
        "/home/runner/work/_temp/abc.sh: line 1: pnpm: command not found",
        "Error: Cannot find module 'dotenv'",
        "Error: Unable to locate executable file: pnpm. Please verify the PATH.",
    ],
)
def test_a_missing_command_or_module_is_a_build_problem(line: str) -> None:
    diagnosis = classify_text(actions_log("npm run build", [line]))
    assert diagnosis.category is Category.BUILD
    assert diagnosis.key_lines[0].text == line
