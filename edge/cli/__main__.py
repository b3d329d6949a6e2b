"""``python -m edge.cli``: the same as the ``mallsense`` console script."""

from edge.cli.main import main

main()
