import sys

from stagekit.cli import main

sys.exit(main())
