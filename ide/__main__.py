import sys

from ide.cli import main

sys.exit(main())
