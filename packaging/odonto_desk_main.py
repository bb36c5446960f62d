"""The frozen build's entry point: the same ``odonto-desk`` command as the console script.

PyInstaller needs a script rather than a module, and ``odonto_desk/__main__.py`` is written for
``python -m``. With no argument the binary starts the app; ``odonto-desk sandbox ...`` runs the
reference server, which is how the app starts its embedded server as a child of the same binary.
"""

import sys

from odonto_desk.cli import main

if __name__ == "__main__":
    sys.exit(main())
