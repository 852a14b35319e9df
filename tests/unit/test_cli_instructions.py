"""Project instructions: which AGENTS.md / CLAUDE.md files a workspace gets, in what order,
the cap, re-reading on change, and how ``codetether instructions`` shows them."""

from __future__ import annotations

import os

from codetether.daemon.cli.instructions import render
from codetether.daemon.core.agent import project_instructions, system_prompt
from codetether.daemon.core.agent._instructions import find_instruction_files


def _tree(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    ws = repo / "pkg" / "app"
    ws.mkdir(parents=True)
    (tmp_path / "AGENTS.md").write_text("outside the repository\n")  # above the root: never read
    (repo / "AGENTS.md").write_text("root rules\n")
    (repo / "CLAUDE.md").write_text("claude rules\n")
    (ws / "AGENTS.md").write_text("app rules\n")
    return repo, ws


def test_files_from_the_repository_root_down_to_the_workspace_nearest_last(tmp_path):
    repo, ws = _tree(tmp_path)
    assert find_instruction_files(ws) == [repo / "AGENTS.md", repo / "CLAUDE.md", ws / "AGENTS.md"]
    prompt = system_prompt(str(ws))
    assert prompt.index("root rules") < prompt.index("claude rules") < prompt.index("app rules")
    assert "outside the repository" not in prompt
    assert f'<instructions path="{ws / "AGENTS.md"}">' in prompt


def test_without_a_repository_only_the_workspace_own_files(tmp_path):
    (tmp_path / "AGENTS.md").write_text("parent\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    assert find_instruction_files(ws) == []
    assert "Project instructions" not in system_prompt(str(ws))
    (ws / "CLAUDE.md").write_text("mine\n")
    assert [p.text for p in project_instructions(ws).parts] == ["mine\n"]


def test_the_cap_cuts_the_farthest_first_and_says_so(tmp_path):
    repo, ws = _tree(tmp_path)
    (repo / "AGENTS.md").write_text("r" * 5000)
    found = project_instructions(ws, cap=1000)
    by_path = {p.path: p for p in found.parts}
    assert not by_path[str(ws / "AGENTS.md")].truncated  # the nearest keeps its text
    root = by_path[str(repo / "AGENTS.md")]
    assert root.truncated and root.size == 5000
    assert "truncated" in root.text and "capped at 1000 bytes" in root.text
    shown = sum(len(p.text.split("\n[... truncated")[0].encode()) for p in found.parts)
    assert shown <= 1000


def test_a_changed_file_is_read_again(tmp_path):
    _repo, ws = _tree(tmp_path)
    assert "app rules" in system_prompt(str(ws))
    path = ws / "AGENTS.md"
    path.write_text("new app rules\n")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a later mtime, surely
    assert "new app rules" in system_prompt(str(ws))
    path.unlink()
    assert "app rules" not in system_prompt(str(ws))


def test_render_names_each_file_and_the_cut():
    view = {"workspace": "/w", "cap": 100, "system_prompt": "PROMPT",
            "parts": [{"path": "/w/AGENTS.md", "size": 300, "shown": 100, "truncated": True}]}
    text = render(view)
    assert "/w/AGENTS.md  300 bytes, cut to 100 bytes" in text and text.endswith("PROMPT")
    assert "no AGENTS.md" in render({**view, "parts": []})


def test_an_instruction_file_that_leads_outside_the_repository_is_not_read(tmp_path):
    """A cloned repository's `AGENTS.md -> ~/.ssh/id_rsa` (or /proc/self/environ) must not
    reach the prompt: the file tools refuse the same path."""
    outside = tmp_path / "outside_secret"
    outside.write_text("TOPSECRET-outside\n")
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "AGENTS.md").symlink_to(outside)
    (repo / "CLAUDE.md").symlink_to("/proc/self/environ")
    (repo / "sub").mkdir()
    (repo / "sub" / "AGENTS.md").write_text("be kind\n")
    (repo / "sub" / "CLAUDE.md").symlink_to(repo / "sub" / "AGENTS.md")  # inside: fine
    found = find_instruction_files(repo / "sub")
    assert found == [repo / "sub" / "AGENTS.md", repo / "sub" / "CLAUDE.md"]
    text = system_prompt(str(repo / "sub"))
    assert "TOPSECRET" not in text and "PATH=" not in text and "be kind" in text


def test_a_huge_instruction_file_is_cut_not_loaded(tmp_path):
    (tmp_path / "AGENTS.md").write_bytes(b"x" * (8 << 20))  # 8 MB
    got = project_instructions(tmp_path)
    assert sum(len(p.text.encode()) for p in got.parts) < 17 * 1024  # the cap, and its note that it cut


def test_a_sibling_directory_with_the_same_prefix_is_outside(tmp_path):
    """``repo2/AGENTS.md`` is not under ``repo`` although its path starts with it; a
    workspace reached through a symlinked directory still finds its own files."""
    repo, sibling = tmp_path / "repo", tmp_path / "repo2"
    (repo / ".git").mkdir(parents=True)
    sibling.mkdir()
    (sibling / "AGENTS.md").write_text("SIBLING\n")
    (repo / "AGENTS.md").symlink_to(sibling / "AGENTS.md")
    (repo / "CLAUDE.md").write_text("mine\n")
    (tmp_path / "link").symlink_to(repo)
    assert find_instruction_files(repo) == [repo / "CLAUDE.md"]
    assert find_instruction_files(tmp_path / "link") == [tmp_path / "link" / "CLAUDE.md"]
    assert "SIBLING" not in system_prompt(str(tmp_path / "link"))


def test_a_link_swapped_after_the_check_is_not_read(tmp_path, monkeypatch):
    """The file that is opened is checked, not its name: an AGENTS.md link that led inside
    the repository when it was found and leads to a secret when it is read is refused."""
    from codetether.daemon.core.agent import _instructions

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "docs").mkdir()
    (repo / "docs" / "agents.md").write_text("inside rules\n")
    (tmp_path / "secret").write_text("SECRET-KEY\n")
    link = repo / "AGENTS.md"
    link.symlink_to(repo / "docs" / "agents.md")
    assert [p.text for p in project_instructions(repo).parts] == ["inside rules\n"]
    real_find = _instructions._find

    def find_then_swap(workspace):
        found = real_find(workspace)
        link.unlink()
        link.symlink_to(tmp_path / "secret")  # between the check and the open
        return found

    monkeypatch.setattr(_instructions, "_find", find_then_swap)
    assert "SECRET-KEY" not in "".join(p.text for p in project_instructions(repo).parts)
