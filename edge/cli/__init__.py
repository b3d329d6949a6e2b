"""The ``mallsense`` command-line interface (click + rich)."""
