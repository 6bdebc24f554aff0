"""Regenerate the generated parts of docs/: lifecycle table, hooks reference, wire-format tables."""

from pathlib import Path

from kruntimes._docs import FRAGMENTS, render
from kruntimes.codec.reference import update_doc

root = Path(__file__).resolve().parent.parent


def write_if_changed(path: Path, new: str) -> None:
    if new != path.read_text():
        path.write_text(new)
        print(f"updated {path.relative_to(root)}")


for rel, (marker, generate) in FRAGMENTS.items():
    path = root / rel
    write_if_changed(path, render(path.read_text(), marker, generate()))
wire = root / "docs" / "wire-format.md"
write_if_changed(wire, update_doc(wire.read_text()))
