"""`python -m app config validate` on files, as an admin runs it before pushing."""

from __future__ import annotations

from app.config.cli import validate


def test_validate_prints_file_line_column_and_exits_by_outcome(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("guard:\n  max_files: 0\n")
    assert validate(str(bad)) == 1
    out = capsys.readouterr().out
    assert f"{bad}:2:3: guard.max_files: 0 is not valid" in out
    good = tmp_path / "good.yml"
    good.write_text("branches: ['release/*']\n_extends: .github\n")
    assert validate(str(good)) == 0
    assert "valid" in capsys.readouterr().out
    assert validate(str(tmp_path / "missing.yml")) == 2
