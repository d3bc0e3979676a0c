"""CODEOWNERS parsing and matching: untrusted input, GitHub's semantics (the last match wins)."""

from __future__ import annotations

from app.publish.reviewers import Owners, owners_for, parse_codeowners

CODEOWNERS = """\
# Default owners
*                   @octo/core
/docs/              @writer
*.py                @py-person   # trailing comment
src/billing/**      @billing-lead @octo/billing @other-org/team you@example.com
src/billing/generated.py
"""


def test_last_matching_rule_wins_per_path():
    rules = parse_codeowners(CODEOWNERS, "octo")
    assert owners_for(rules, ["README.md"]) == Owners((), ("core",))
    assert owners_for(rules, ["docs/guide/intro.md"]) == Owners(("writer",), ())
    assert owners_for(rules, ["tools/x.py"]) == Owners(("py-person",), ())
    # Teams of another organisation and e-mail owners cannot be requested: dropped.
    assert owners_for(rules, ["src/billing/tax.rs"]) == Owners(("billing-lead",), ("billing",))
    # A rule without owners un-owns its paths.
    assert not owners_for(rules, ["src/billing/generated.py"])


def test_owners_of_several_paths_are_merged_once_each():
    rules = parse_codeowners(CODEOWNERS, "octo")
    owners = owners_for(rules, ["a.py", "b.py", "docs/x.md"])
    assert owners == Owners(("py-person", "writer"), ())


def test_hostile_or_malformed_lines_are_skipped_not_fatal():
    text = "\n".join(
        [
            "!negated @a",
            "[abc].py @b",
            "x\\#y @c",
            "ok.txt @good @bad!name @@twice @" + "x" * 60,
            "\x00\x01 @nul",
            "ok.txt",  # un-owns: last rule wins
            "other.txt @good",
        ]
        + ["filler @z"] * 10_000
    )
    rules = parse_codeowners(text, "octo")
    assert owners_for(rules, ["other.txt"]) == Owners(("good",), ())
    assert not owners_for(rules, ["ok.txt"])
    assert len(rules) <= 5000


def test_anchoring_and_directory_patterns():
    rules = parse_codeowners("build/ @builder\n/root.cfg @root\nlib/*.c @c\n", "octo")
    assert owners_for(rules, ["pkg/build/out.o"]) == Owners(("builder",), ())
    assert owners_for(rules, ["root.cfg"]) == Owners(("root",), ())
    assert not owners_for(rules, ["sub/root.cfg"])
    assert owners_for(rules, ["lib/a.c"]) == Owners(("c",), ())
    assert not owners_for(rules, ["lib/sub/a.c"])
