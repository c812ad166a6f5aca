"""``python -m modelservice``: the same as the ``modelservice`` command."""

from .cli import main

main()
