"""Records: the recorder that feeds telemetry, the audit trail and the event streams (each a
subpackage here) from calls and session events.
"""


from ._recorder import (
    Recorder,
)

__all__ = [
    "Recorder",
]
