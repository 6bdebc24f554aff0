"""`python -m kruntimes.cli`: how `krt up --detach` starts the engine with this interpreter."""

from kruntimes.cli import main

main()
