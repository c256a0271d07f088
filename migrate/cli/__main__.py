"""`python -m migrate.cli ...` runs the command."""

import sys

from migrate.cli.main import main

sys.exit(main())
