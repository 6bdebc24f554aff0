"""The README's code and the examples run and do what they say."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_python_snippet_runs_and_binds(capsys) -> None:  # type: ignore[no-untyped-def]
    readme = (ROOT / "README.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    exec(compile(snippet, "README.md", "exec"), {})
    assert "Bind(run=('default', 'hello'), pod='bash-0'" in capsys.readouterr().out


def test_readme_commands_are_the_ci_ones() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test" in readme
    assert "bash scripts/test" in (ROOT / ".ci/run").read_text()


def test_placement_demo_places_every_run() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples/placement_demo.py"), "--runs", "300", "--seed", "3"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    ).stdout
    assert "outcomes: {'Succeeded': 300}" in out
    assert "Runs requeued when bash-1 died" in out
