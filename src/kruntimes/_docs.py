"""Generated documentation fragments; `scripts/gen_docs.py` writes them, tests keep them in sync."""

from __future__ import annotations

import inspect

from kruntimes import hookspecs
from kruntimes.model.lifecycle import lifecycle_table_markdown


def hook_functions() -> list[tuple[str, object]]:
    return [
        (name, obj)
        for name, obj in vars(hookspecs).items()
        if name.startswith("kruntimes_") and callable(obj)
    ]


def hooks_reference_markdown() -> str:
    parts = []
    for name, fn in hook_functions():
        opts = getattr(fn, hookspecs.PROJECT + "_spec", {})
        first = " (first result wins)" if opts.get("firstresult") else ""
        signature = str(inspect.signature(fn)).replace("'", "")  # type: ignore[arg-type]
        doc = inspect.cleandoc(fn.__doc__ or "")
        parts.append(f"### `{name}`{first}\n\n```python\ndef {name}{signature}\n```\n\n{doc}\n")
    return "\n".join(parts)


FRAGMENTS = {
    "docs/lifecycle.md": ("<!-- lifecycle-table -->", lifecycle_table_markdown),
    "docs/hooks.md": ("<!-- hooks-reference -->", hooks_reference_markdown),
}
"""Doc file -> (marker pair name, generator). Text between `<!-- x -->` and `<!-- /x -->`."""


def render(text: str, marker: str, body: str) -> str:
    start = text.index(marker) + len(marker)
    end = text.index(marker.replace("<!-- ", "<!-- /"))
    return text[:start] + "\n" + body + text[end:]
