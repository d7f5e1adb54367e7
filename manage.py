#!/usr/bin/env python
"""Django's command-line utility for Chapterhouse."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main() -> None:
    # site/ is a source root, not a package: put it first so our apps win.
    sys.path.insert(0, str(ROOT / "site"))
    sys.path.insert(1, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
