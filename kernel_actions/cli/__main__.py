"""``python -m kernel_actions.cli``: the same as the ``kernel-actions`` command."""

from . import main

main()
