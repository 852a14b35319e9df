"""Configurations are applied one at a time, in the order asked: a reload and a
`config --set` that meet at an await never leave the daemon's parts configured from
different files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from codetether.daemon.core.config import parse_config


async def test_two_applications_do_not_interleave(tmp_path: Path, scripted_app: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    app = scripted_app(tmp_path / "h", [])
    try:
        order: list[tuple[str, int]] = []
        real = app.models.reconfigure

        async def slow(config: Any, secrets: Any) -> None:
            order.append(("start", config.session.max_steps))
            await asyncio.sleep(0.05)  # a reconfigure that awaits (a Vault lookup, say)
            await real(config, secrets)
            order.append(("end", config.session.max_steps))

        monkeypatch.setattr(app.models, "reconfigure", slow)
        first = parse_config("[session]\nmax_steps = 5\n")
        second = parse_config("[session]\nmax_steps = 6\n[tools]\nbash_max_output = 1234\n")
        await asyncio.gather(app.apply_config(first), app.apply_config(second))
        assert order == [("start", 5), ("end", 5), ("start", 6), ("end", 6)]
        assert app.config.session.max_steps == 6
        bash = app.tools.get("bash")
        assert getattr(bash, "limits").output_chars == 1234  # the registry is the second file's too
    finally:
        await app.aclose()
