"""codetether's language server: a thin LSP client of the daemon (see PROTOCOL.md)."""

__all__: list[str] = []
