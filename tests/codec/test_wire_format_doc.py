"""docs/wire-format.md shows the codec as it is: generated tables current, examples valid."""

from __future__ import annotations

from pathlib import Path

import yaml

from kruntimes.codec import decode_run, run_to_dict
from kruntimes.codec.limits import LIMITS
from kruntimes.codec.reference import DOC_SECTIONS, update_doc

DOC = Path(__file__).resolve().parents[2] / "docs" / "wire-format.md"


def test_generated_sections_are_current() -> None:
    text = DOC.read_text()
    assert update_doc(text) == text, "run: python -m kruntimes.codec.reference docs/wire-format.md"


def test_every_section_and_limit_is_shown() -> None:
    text = DOC.read_text()
    for name in DOC_SECTIONS:
        assert f"<!-- {name} -->" in text
    for limit in LIMITS:
        assert f"| `{limit.field}` | {limit.rule} |" in text


def test_the_example_manifest_is_canonical() -> None:
    example = DOC.read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    document = yaml.safe_load(example)
    decoded = decode_run(document, strict=True)
    assert run_to_dict(decoded.value) == document
