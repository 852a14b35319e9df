"""Ralph: the PRD loop (``prd.json``; one fresh agent per story, quality checks,
verification, ``progress.txt``) (issue 11; being built)."""

__all__: list[str] = []
