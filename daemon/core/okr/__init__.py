"""OKRs: objectives with measurable key results, their runs and the run state machine,
in one SQLite store in the data dir (issue 11; being built)."""

__all__: list[str] = []
