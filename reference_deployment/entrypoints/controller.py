"""Entry point of the controller image: `python /app/controller.py [flags]` (see --help)."""

import sys

from kruntimes.adapters.kubernetes.main import cli

if __name__ == "__main__":
    cli(["controller", *sys.argv[1:]], prog_name="controller")
