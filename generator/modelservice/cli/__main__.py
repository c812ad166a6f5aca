"""``python -m modelservice.cli``: the same as the ``modelservice`` command."""

from . import main

main()
