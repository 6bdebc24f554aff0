"""Generated docs stay in sync, and every hook is documented."""

import inspect
from pathlib import Path

import pytest

from kruntimes import hookspecs
from kruntimes._docs import FRAGMENTS, hook_functions, render

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("rel", sorted(FRAGMENTS))
def test_generated_doc_fragment_is_current(rel: str) -> None:
    marker, generate = FRAGMENTS[rel]
    text = (ROOT / rel).read_text()
    assert render(text, marker, generate()) == text, f"run: python scripts/gen_docs.py ({rel})"


def test_there_are_hooks_and_all_are_prefixed() -> None:
    names = [name for name, _ in hook_functions()]
    assert len(names) >= 10
    public = [n for n in vars(hookspecs) if n.startswith("kruntimes")]
    assert sorted(public) == sorted(names)


@pytest.mark.parametrize(("name", "fn"), hook_functions())
def test_every_hook_is_fully_documented(name: str, fn: object) -> None:
    doc = inspect.getdoc(fn) or ""
    assert len(doc.splitlines()) >= 3, f"{name} needs a docstring"
    assert "Added in " in doc, f"{name} must say which version added it"
    assert "Called " in doc, f"{name} must say when it is called"
    for param in inspect.signature(fn).parameters:  # type: ignore[arg-type]
        assert f":param {param}:" in doc, f"{name} does not document parameter {param!r}"
    opts = fn.kruntimes_spec
    if opts.get("firstresult"):
        assert "First result wins" in doc, f"{name} is firstresult; its docs must say so"
