"""The workspace: hostile archives refused, GitHub's layout extracted, the diff read back."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from app.core.errors import DownloadError, UnsafeArchive, WorkspaceError
from app.fix.workspace import Workspace, download_source
from app.github.client import AppGitHubAPI
from tests.support import TOP, tar_info, tarball_of


def _hostile(*members: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(tar_info(TOP, tarfile.DIRTYPE, mode=0o755))
        for member in members:
            if member.isreg():
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data))
            else:
                tar.addfile(member)
    return buffer.getvalue()


def _device() -> tarfile.TarInfo:
    info = tar_info(f"{TOP}/null", tarfile.CHRTYPE)
    info.devmajor, info.devminor = 1, 3
    return info


HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "absolute path": (lambda: _hostile(tar_info("/etc/evil"), data=b"x"), "absolute path"),
    "dot-dot": (lambda: _hostile(tar_info(f"{TOP}/../../evil"), data=b"x"), "'..'"),
    "symlink to absolute path": (
        lambda: _hostile(tar_info(f"{TOP}/link", tarfile.SYMTYPE, linkname="/etc/passwd")),
        "absolute path",
    ),
    "symlink escaping": (
        lambda: _hostile(tar_info(f"{TOP}/a/link", tarfile.SYMTYPE, linkname="../../outside")),
        "leaving the repository",
    ),
    "symlink chain escaping": (
        lambda: _hostile(
            tar_info(f"{TOP}/here", tarfile.SYMTYPE, linkname="."),
            tar_info(f"{TOP}/up", tarfile.SYMTYPE, linkname="here/.."),
        ),
        "resolves outside",
    ),
    "write through a symlink": (
        lambda: _hostile(
            tar_info(f"{TOP}/dir", tarfile.SYMTYPE, linkname="."),
            tar_info(f"{TOP}/dir/file"),
            data=b"x",
        ),
        "through a link",
    ),
    "hardlink escaping": (
        lambda: _hostile(tar_info(f"{TOP}/passwd", tarfile.LNKTYPE, linkname="/etc/passwd")),
        "hard link leaving",
    ),
    "hardlink to a member not extracted": (
        lambda: _hostile(tar_info(f"{TOP}/copy", tarfile.LNKTYPE, linkname=f"{TOP}/missing")),
        "not a file in the archive",
    ),
    "device file": (lambda: _hostile(_device()), "device file"),
    "fifo": (lambda: _hostile(tar_info(f"{TOP}/pipe", tarfile.FIFOTYPE)), "fifo"),
    "git directory": (
        lambda: _hostile(tar_info(f"{TOP}/.git/config"), data=b"[core]\nfsmonitor=evil\n"),
        ".git",
    ),
    "two top-level folders": (
        lambda: _hostile(tar_info("other-folder/file"), data=b"x"),
        "single top-level folder",
    ),
    "duplicate member": (
        lambda: _hostile(tar_info(f"{TOP}/f"), tar_info(f"{TOP}/f"), data=b"x"),
        "appears twice",
    ),
    "bomb by size": (
        lambda: _hostile(tar_info(f"{TOP}/big"), data=b"\0" * 5000),
        "bytes uncompressed",
    ),
    "bomb by size across files": (
        lambda: _hostile(*(tar_info(f"{TOP}/part{i}") for i in range(3)), data=b"\0" * 1500),
        "bytes uncompressed",
    ),
    "bomb by size through hard links": (
        lambda: _hostile(
            tar_info(f"{TOP}/big"),
            *(tar_info(f"{TOP}/copy{i}", tarfile.LNKTYPE, linkname=f"{TOP}/big") for i in range(3)),
            data=b"\0" * 1500,
        ),
        "bytes uncompressed",
    ),
    "bomb by count": (
        lambda: _hostile(*(tar_info(f"{TOP}/f{i}") for i in range(20)), data=b"x"),
        "more than 10 members",
    ),
    "not a tarball": (lambda: b"<html>not found</html>", "not a readable tar archive"),
}


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Workspaces land in tmp_path, so a test can see whether any was left behind."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
async def test_hostile_archive_is_refused_with_a_reason(case: str, private_tmp: Path) -> None:
    build, reason = HOSTILE[case]
    with pytest.raises(UnsafeArchive) as raised:
        await Workspace.from_tarball(build(), max_bytes=4000, max_files=10)
    assert reason in raised.value.reason
    assert "refusing to extract" in str(raised.value)
    assert not [n for n in os.listdir(private_tmp) if n.startswith("ci-fix-ws-")], (
        "a refused archive must leave nothing behind"
    )


async def test_normal_archive_is_extracted_without_the_top_folder(private_tmp: Path) -> None:
    archive = tarball_of(
        {"README.md": "hello\n", "src/app.py": "x = 1\n", "bin/run": "#!/bin/sh\n"},
        executable=("bin/run",),
        symlinks={"docs/readme": "../README.md"},
    )
    async with await Workspace.from_tarball(archive) as ws:
        assert stat.S_IMODE(ws.path.stat().st_mode) == 0o700
        assert (ws.path / "README.md").read_text() == "hello\n"
        assert (ws.path / "src" / "app.py").read_text() == "x = 1\n"
        assert not (ws.path / TOP).exists()
        assert os.access(ws.path / "bin" / "run", os.X_OK)
        assert not os.access(ws.path / "src" / "app.py", os.X_OK)
        assert os.readlink(ws.path / "docs" / "readme") == "../README.md"
        assert await ws.diff() == ""
        assert await ws.changed_files() == {}


async def test_archive_from_a_file_on_disk(private_tmp: Path) -> None:
    path = private_tmp / "repo.tar.gz"
    path.write_bytes(tarball_of({"a.txt": "a\n"}))
    async with await Workspace.from_tarball(path) as ws:
        assert (ws.path / "a.txt").read_text() == "a\n"


async def test_safe_hardlink_becomes_an_independent_copy(private_tmp: Path) -> None:
    archive = _hostile(
        tar_info(f"{TOP}/orig"), tar_info(f"{TOP}/copy", tarfile.LNKTYPE, linkname=f"{TOP}/orig"),
        data=b"shared\n",
    )  # fmt: skip
    async with await Workspace.from_tarball(archive) as ws:
        assert (ws.path / "copy").read_bytes() == b"shared\n"
        assert (ws.path / "copy").stat().st_ino != (ws.path / "orig").stat().st_ino


async def test_diff_and_changed_files_cover_every_kind_of_change(private_tmp: Path) -> None:
    archive = tarball_of(
        {
            "keep.py": "a = 1\n",
            "gone.txt": "bye\n",
            "old_name.py": "".join(f"line {i}\n" for i in range(20)),
            "script.sh": "echo hi\n",
        }
    )
    async with await Workspace.from_tarball(archive) as ws:
        (ws.path / "keep.py").write_text("a = 2\n")
        (ws.path / "gone.txt").unlink()
        (ws.path / "old_name.py").rename(ws.path / "new_name.py")
        (ws.path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\xff")
        (ws.path / "added.txt").write_text("new\n")
        (ws.path / "script.sh").chmod(0o755)

        diff = await ws.diff()
        assert "-a = 1\n+a = 2" in diff
        assert "rename from old_name.py\nrename to new_name.py" in diff
        assert "deleted file mode" in diff and "gone.txt" in diff
        # Shown as text, never "Binary files differ": every published byte is judged.
        assert "+++ b/image.png\n@@ -0,0 +1,3 @@\n+\ufffdPNG" in diff
        assert "new file mode 100644" in diff and "+new" in diff

        assert await ws.changed_files() == {
            "keep.py": b"a = 2\n",
            "gone.txt": None,
            "old_name.py": None,
            "new_name.py": "".join(f"line {i}\n" for i in range(20)).encode(),
            "image.png": b"\x89PNG\r\n\x1a\n\0\0\xff",
            "added.txt": b"new\n",
            "script.sh": b"echo hi\n",
        }
        modes = await ws.file_modes()
        assert modes["script.sh"] == "100755"
        assert modes["keep.py"] == "100644"
        assert "gone.txt" not in modes


async def test_tracked_files_matching_gitignore_still_show_in_the_diff(private_tmp: Path) -> None:
    archive = tarball_of({".gitignore": "*.log\n", "build.log": "tracked anyway\n"})
    async with await Workspace.from_tarball(archive) as ws:
        (ws.path / "build.log").write_text("changed\n")
        (ws.path / "fresh.log").write_text("ignored, new\n")
        assert await ws.changed_files() == {"build.log": b"changed\n"}


async def test_tool_caches_are_not_part_of_the_change(private_tmp: Path) -> None:
    async with await Workspace.from_tarball(tarball_of({"m.py": "x = 1\n"})) as ws:
        (ws.path / "__pycache__").mkdir()
        (ws.path / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
        assert await ws.changed_files() == {}


async def test_a_git_repository_the_agent_makes_in_the_checkout_is_never_read(
    private_tmp: Path,
) -> None:
    """An agent may `git init`, commit, and write config, attributes, hooks and filters:
    the app's git lives elsewhere and runs none of it, and the change is the real bytes."""
    async with await Workspace.from_tarball(tarball_of({"m.py": "x = 1\n"})) as ws:
        assert not (ws.path / ".git").exists()
        assert not ws.git_dir.is_relative_to(ws.path)
        marker = private_tmp / "agent-code-ran"
        script = private_tmp / "hook.sh"
        script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
        script.chmod(0o755)
        agent_git = ["git", "-c", "user.name=agent", "-c", "user.email=agent@example.com"]
        init = await asyncio.create_subprocess_exec(*agent_git, "init", "-q", cwd=ws.path)
        assert await init.wait() == 0
        git_dir = ws.path / ".git"
        with (git_dir / "config").open("a") as config:
            config.write(
                f"[core]\n\tfsmonitor = {script}\n\thooksPath = {private_tmp}\n"
                f'[filter "hide"]\n\tclean = {script}\n\tsmudge = {script}\n'
                f'[diff "hide"]\n\ttextconv = {script}\n\tcommand = {script}\n'
            )
        (git_dir / "info").mkdir(exist_ok=True)
        (git_dir / "info" / "attributes").write_text("* -diff\n")
        (ws.path / ".gitattributes").write_text("* filter=hide diff=hide -text\n")
        (ws.path / "m.py").write_text("import pytest\n\n@pytest.mark.skip\ndef test_x(): pass\n")

        change = await ws.snapshot()
        assert change.files == {
            "m.py": b"import pytest\n\n@pytest.mark.skip\ndef test_x(): pass\n",
            ".gitattributes": b"* filter=hide diff=hide -text\n",
        }
        diff = await ws.diff()
        assert "+@pytest.mark.skip" in diff
        assert "Binary files" not in diff
        assert not marker.exists()


async def test_verify_cannot_leave_a_repository_or_links_behind(private_tmp: Path) -> None:
    async with await Workspace.from_tarball(tarball_of({"src/m.py": "x = 1\n"})) as ws:
        (ws.path / "src" / "m.py").write_text("x = 2\n")
        outside = private_tmp / "outside"
        outside.mkdir()

        async def hostile_verify() -> None:
            (ws.path / "nested").mkdir()
            init = await asyncio.create_subprocess_exec("git", "init", "-q", cwd=ws.path / "nested")
            assert await init.wait() == 0
            (ws.path / "src" / "m.py").unlink()
            (ws.path / "src").rmdir()
            (ws.path / "src").symlink_to(outside)  # a restore must not write through it

        await ws.preserving_changes(hostile_verify)
        assert (ws.path / "src" / "m.py").read_text() == "x = 2\n"
        assert not (ws.path / "src").is_symlink()
        assert list(outside.iterdir()) == []
        assert not (ws.path / "nested").exists()
        assert await ws.changed_files() == {"src/m.py": b"x = 2\n"}


async def test_a_nested_repository_is_refused(private_tmp: Path) -> None:
    async with await Workspace.from_tarball(tarball_of({"m.py": "x = 1\n"})) as ws:
        (ws.path / "vendored").mkdir()
        init = await asyncio.create_subprocess_exec("git", "init", "-q", cwd=ws.path / "vendored")
        assert await init.wait() == 0
        (ws.path / "vendored" / "x.py").write_text("y = 1\n")
        with pytest.raises(WorkspaceError, match="vendored is a nested git repository"):
            await ws.snapshot()


async def test_cleanup_removes_the_directory(private_tmp: Path) -> None:
    ws = await Workspace.from_tarball(tarball_of({"a.txt": "a\n"}))
    with ws:
        (ws.path / "ro").mkdir()
        (ws.path / "ro" / "f").write_text("x")
        (ws.path / "ro").chmod(0o500)  # like Go's read-only module cache
    assert not ws.path.exists()


# -- download_source ---------------------------------------------------------------------


def client(
    session: aiohttp.ClientSession, api_url: str, token: str = "ghs_installation"
) -> AppGitHubAPI:
    async def token_source() -> str:
        return token

    return AppGitHubAPI(session, base_url=api_url, token=token_source)


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def github_and_blob_host():
    """An API host that redirects tarball requests to a blob host that must never see auth."""
    body = tarball_of({"a.txt": "from the blob host\n"})
    seen: dict[str, list[str | None]] = {"api": [], "blob": []}

    async def blob(request: web.Request) -> web.Response:
        seen["blob"].append(request.headers.get("Authorization"))
        if "Authorization" in request.headers:
            return web.Response(status=400, text="credentials leaked to the blob host")
        # Chunked, with no Content-Length: the size cap must hold while streaming.
        response = web.StreamResponse(headers={"Content-Type": "application/x-gzip"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 64):
            await response.write(body[start : start + 64])
        await response.write_eof()
        return response

    blob_app = web.Application()
    blob_app.router.add_get("/codeload/{name}", blob)
    blob_runner, blob_url = await _serve(blob_app)

    async def tarball(request: web.Request) -> web.Response:
        seen["api"].append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") != "token ghs_installation":
            return web.Response(status=401)
        raise web.HTTPFound(f"{blob_url}/codeload/{request.match_info['sha']}?sig=abc")

    api_app = web.Application()
    api_app.router.add_get("/repos/octo/repo/tarball/{sha}", tarball)
    api_runner, api_url = await _serve(api_app)
    yield api_url, body, seen
    await api_runner.cleanup()
    await blob_runner.cleanup()


async def test_download_follows_the_redirect_without_the_token(github_and_blob_host, tmp_path):
    api_url, body, seen = github_and_blob_host
    dest = tmp_path / "repo.tar.gz"
    async with aiohttp.ClientSession() as session:
        got = await download_source(client(session, api_url), "octo/repo", "abc1234", dest, 10**6)
    assert got == dest
    assert dest.read_bytes() == body
    assert seen == {"api": ["token ghs_installation"], "blob": [None]}
    async with await Workspace.from_tarball(dest) as ws:
        assert (ws.path / "a.txt").read_text() == "from the blob host\n"


async def test_download_over_the_size_cap_is_aborted(github_and_blob_host, tmp_path):
    api_url, _body, _seen = github_and_blob_host
    dest = tmp_path / "repo.tar.gz"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(DownloadError, match="larger than"):
            await download_source(client(session, api_url), "octo/repo", "abc1234", dest, 10)
    assert not dest.exists()


async def test_download_reports_an_http_failure(github_and_blob_host, tmp_path):
    api_url, _body, _seen = github_and_blob_host
    async with aiohttp.ClientSession() as session:
        with pytest.raises(DownloadError, match="HTTP 401"):
            await download_source(
                client(session, api_url, "wrong"), "octo/repo", "abc1234", tmp_path / "t", 10
            )


async def test_download_from_the_shared_fake_github_builds_the_workspace(fake_github, tmp_path):
    """The fake fails the test at teardown if the token reached its blob host."""
    sha = fake_github.add_repo(
        "octo/repo", files={"src/app.py": "x = 1\n", "README.md": "hi\n"}, installation_id=7
    )
    token = fake_github.issue_token(7, None).value
    dest = tmp_path / "repo.tar.gz"
    async with aiohttp.ClientSession() as session:
        await download_source(client(session, fake_github.url, token), "octo/repo", sha, dest)
    async with await Workspace.from_tarball(dest) as ws:
        assert (ws.path / "src" / "app.py").read_text() == "x = 1\n"
        (ws.path / "README.md").write_text("fixed\n")
        assert await ws.changed_files() == {"README.md": b"fixed\n"}
    assert fake_github.leaks == []


async def test_what_a_verify_run_writes_is_undone_and_the_fix_kept():
    files = {"keep.py": "old\n", "gone.py": "bye\n", "tests/test_x.py": "def test(): pass\n"}
    async with await Workspace.from_tarball(tarball_of(files)) as ws:
        (ws.path / "keep.py").write_text("fixed\n")
        (ws.path / "gone.py").unlink()
        (ws.path / "new.sh").write_text("#!/bin/sh\n")
        (ws.path / "new.sh").chmod(0o755)
        before = await ws.changed_files()

        async def verify_that_writes() -> str:
            (ws.path / "report.xml").write_text("<testsuite/>")
            (ws.path / "tests" / "test_x.py").unlink()
            (ws.path / "keep.py").write_text("clobbered\n")
            return "ran"

        assert await ws.preserving_changes(verify_that_writes) == "ran"
        assert await ws.changed_files() == before
        assert (await ws.file_modes())["new.sh"] == "100755"
        assert not (ws.path / "report.xml").exists()
        assert (ws.path / "tests" / "test_x.py").exists()


async def test_originals_are_the_baseline_blobs_and_modes(private_tmp: Path) -> None:
    archive = tarball_of(
        {"a.py": "a = 1\n", "run.sh": "echo\n", "img.bin": b"\x00\x01"}, executable=("run.sh",)
    )
    async with await Workspace.from_tarball(archive) as ws:
        (ws.path / "a.py").write_text("a = 2\n")
        (ws.path / "img.bin").unlink()
        (ws.path / "new.py").write_text("n = 1\n")
        changed = await ws.changed_files()
        originals = await ws.originals([*changed, "run.sh"])
    assert originals == {
        "a.py": ("100644", b"a = 1\n"),
        "img.bin": ("100644", b"\x00\x01"),
        "run.sh": ("100755", b"echo\n"),
    }
