"""The ``/autochat`` relay: specialists passing a baton over the bus, checkpointed after
every turn so a resume after kill -9 goes on in exact order (issue 11; being built)."""

__all__: list[str] = []
