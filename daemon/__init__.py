"""codetether daemon: the core, its wire types and its transports.

Kept import-free on purpose: the CLI imports ``codetether.daemon.cli`` on every
invocation and must start nearly as fast as the interpreter.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
