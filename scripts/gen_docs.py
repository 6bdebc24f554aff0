"""Regenerate the generated parts of docs/ (lifecycle table, hooks reference)."""

from pathlib import Path

from kruntimes._docs import FRAGMENTS, render

root = Path(__file__).resolve().parent.parent
for rel, (marker, generate) in FRAGMENTS.items():
    path = root / rel
    text = path.read_text()
    new = render(text, marker, generate())
    if new != text:
        path.write_text(new)
        print(f"updated {rel}")
