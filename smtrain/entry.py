"""The `smtrain` console script.

``smtrain`` and ``smtrain --help`` print the help text saved in
:mod:`smtrain.help_text` without importing the CLI library: a user's
first command should answer instantly. A test checks that the saved text is
exactly what the CLI renders; `python -m smtrain.help_text` rewrites it.
"""

import sys


def main() -> None:
    if sys.argv[1:] in ([], ["--help"], ["-h"]):
        from smtrain.help_text import TOP_LEVEL_HELP

        sys.stdout.write(TOP_LEVEL_HELP)
        return
    from smtrain.cli import main as cli_main

    cli_main()
