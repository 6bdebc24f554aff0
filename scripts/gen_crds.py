"""Write the Run, Runtime and RunQueue CRDs and docs/crd-reference.md from kruntimes' model.

    python scripts/gen_crds.py          # write what changed
    python scripts/gen_crds.py --check  # list stale files, exit 1 if any

The plain CRDs (no CEL, they install on Kubernetes 1.20) go to
reference_deployment/crds/ and the Helm chart's crds/ directory; the variants
with validation rules (1.25+) go to reference_deployment/crds/with-validation-rules/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kruntimes.adapters.kubernetes.crd_docs import DOC_PATH, update_doc
from kruntimes.adapters.kubernetes.crds import crd_files

ROOT = Path(__file__).resolve().parent.parent


def expected_files() -> dict[Path, str]:
    """Every generated file and the content it should have."""
    files = {ROOT / rel: text for rel, text in crd_files().items()}
    doc = ROOT / DOC_PATH
    files[doc] = update_doc(doc.read_text())
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list stale files")
    args = parser.parse_args(argv)
    files = expected_files()
    stale = [path for path, text in files.items() if not path.exists() or path.read_text() != text]
    for path in stale:
        if args.check:
            print(f"stale: {path.relative_to(ROOT)}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(files[path])
            print(f"updated {path.relative_to(ROOT)}")
    if args.check and stale:
        print("run: python scripts/gen_crds.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
