"""``python -m codetether.lsp`` / ``codetether lsp``: the language server on stdio."""

from .server import main

main()
