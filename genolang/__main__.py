"""`python -m genolang` is the `genolang` command."""

import sys

from genolang.cli import main

sys.exit(main())
