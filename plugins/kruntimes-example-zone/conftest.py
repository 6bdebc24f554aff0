"""Let the plugin's tests run from a source checkout even when it is not installed."""

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("kruntimes_example_zone") is None:
    sys.path.insert(0, str(Path(__file__).parent / "src"))
