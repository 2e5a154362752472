"""``python -m srmsim``: the same as the ``srmsim`` command."""

import sys

from srmsim.cli import main

sys.exit(main())
