"""mallsense edge: aggregation, local store, runtime and the ``mallsense`` CLI."""

__version__ = "0.1.0"
