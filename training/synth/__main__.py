"""``python -m training.synth``: the generator's command line (see :mod:`training.synth.cli`)."""

import sys

from training.synth.cli import main

if __name__ == "__main__":
    sys.exit(main())
