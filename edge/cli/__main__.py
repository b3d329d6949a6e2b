"""``python -m edge.cli``: the same as the ``mallsense`` console script."""

from edge.cli.entry import main

main()
