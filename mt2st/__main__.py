"""``python -m mt2st`` runs the command line."""

import sys

from mt2st.cli import main

sys.exit(main())
