"""The ``mallsense`` console script's entry point, kept free of imports.

The daemon starts its camera processes and the shared detector with multiprocessing's
*spawn*, and a spawned process first runs the parent's main script again (as
``__mp_main__``, without its ``if __name__ == "__main__"`` part). pip's console script
imports its entry point at the top, so with ``edge.cli.main`` there every one of those
processes loaded the whole CLI: about 470 modules and 24 MB it never uses, five times
over on a box with four cameras. Importing this module costs nothing; the commands load
when ``main`` runs.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the ``mallsense`` command."""
    from edge.cli.main import main as run_command

    run_command()
