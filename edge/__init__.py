"""mallsense edge: aggregation, local store, runtime and the ``mallsense`` CLI."""

from drivers._native import prefer_source_if_requested

__version__ = "0.1.0"

prefer_source_if_requested()
