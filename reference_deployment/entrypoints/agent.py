"""Entry point of the agent image: `python /app/agent.py [flags]` (see --help)."""

import sys

from kruntimes.adapters.kubernetes.main import cli

if __name__ == "__main__":
    cli(["agent", *sys.argv[1:]], prog_name="agent")
