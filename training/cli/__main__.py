"""``python -m training.cli``: the ``desa`` command (torchrun starts ``desa train`` this way)."""

import sys

from training.cli import main

sys.exit(main())
