"""What one agent run is configured with: the model, its limits and the permission rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["AgentSettings"]


@dataclass(slots=True)
class AgentSettings:
    """The settings of one :class:`~.Agent` run, resolved from config and the request."""

    model: str  # model id as the provider knows it
    model_label: str  # "provider/model" for events
    context_window: int = 8192
    max_steps: int = 25
    tool_output_budget: int = 16000
    compact_threshold: float = 0.8
    mode: str = "ask"
    rules: dict[str, dict[str, str]] = field(default_factory=dict)
    max_tokens: int = 4096
    tool_settings: dict[str, Any] = field(default_factory=dict)  # e.g. websearch_url
