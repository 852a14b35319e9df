"""The daemon API (moving here from core/service.py)."""

__all__: list[str] = []
