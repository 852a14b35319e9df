"""A .gitignore-aware directory walk for glob and list_dir.

The rules follow git (and ripgrep, which grep uses): every directory's
``.gitignore`` and ``.ignore`` apply below it, a deeper file's verdict overrides a
shallower one's, and the root's ``.git/info/exclude`` applies everywhere. Like
``rg --no-require-git``, the rules apply whether or not the tree is a git
repository, so the three tools agree on what "ignored" means.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:  # pathspec loads on the first walk: an idle daemon never needs it
    import pathspec

__all__ = ["IgnoreRules", "walk"]

_IGNORE_FILES = (".gitignore", ".ignore")
ALWAYS_SKIPPED = frozenset({".git"})


class IgnoreRules:
    """Ignore rules of the tree under ``root``, loaded lazily per directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._specs: dict[Path, pathspec.GitIgnoreSpec | None] = {}

    def _spec(self, directory: Path) -> pathspec.GitIgnoreSpec | None:
        if directory in self._specs:
            return self._specs[directory]
        lines: list[str] = []
        sources = [directory / name for name in _IGNORE_FILES]
        if directory == self.root:
            sources.insert(0, directory / ".git" / "info" / "exclude")
        for source in sources:
            try:
                lines.extend(source.read_text(encoding="utf-8", errors="replace").splitlines())
            except OSError:
                continue
        if not lines:
            spec = None
        else:
            import pathspec

            spec = pathspec.GitIgnoreSpec.from_lines(lines)
        self._specs[directory] = spec
        return spec

    def ignored(self, path: Path, is_dir: bool) -> bool:
        """Whether ``path`` (absolute, under root) is ignored by the rules above it."""
        if path.name in ALWAYS_SKIPPED:
            return True
        directory = path.parent
        while True:
            spec = self._spec(directory)
            if spec is not None:
                rel = path.relative_to(directory).as_posix()
                result = spec.check_file(rel + "/" if is_dir else rel)
                if result.include is not None:
                    return bool(result.include)
            if directory == self.root or self.root not in directory.parents:
                return False
            directory = directory.parent


def walk(
    start: Path,
    rules: IgnoreRules,
    max_depth: int | None = None,
    skip: Callable[[Path, bool], bool] | None = None,
) -> Iterator[tuple[Path, bool, int]]:
    """Yield ``(path, is_dir, depth)`` below ``start`` in pre-order, names sorted.

    Ignored entries (by the rules, or by ``skip``) and ``.git`` are left out, and
    such directories are not entered. Symlinked directories are listed but not
    followed (no loops, no walking out of the workspace).
    """
    stack = [(path, is_dir, 1) for path, is_dir in reversed(_children(start, rules, skip))]
    while stack:
        path, is_dir, depth = stack.pop()
        yield path, is_dir, depth
        if is_dir and (max_depth is None or depth < max_depth):
            stack.extend((p, d, depth + 1) for p, d in reversed(_children(path, rules, skip)))


def _children(
    directory: Path, rules: IgnoreRules, skip: Callable[[Path, bool], bool] | None
) -> list[tuple[Path, bool]]:
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return []
    out: list[tuple[Path, bool]] = []
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        path = Path(entry.path)
        if rules.ignored(path, is_dir) or (skip is not None and skip(path, is_dir)):
            continue
        out.append((path, is_dir))
    return out
