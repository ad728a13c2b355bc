"""The repository stands on its own: docs it cites exist, and nothing points at notes outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    suffixes = {".py", ".md", ".txt", ".toml", ".cfg", ".yaml", ".sh", ".xml", ""}
    return [ROOT / n for n in names.split() if Path(n).suffix in suffixes and (ROOT / n).is_file()]


def test_no_file_cites_design_notes_outside_the_repository():
    pattern = re.compile(r"\bDESIGN(\.md)? §")  # how the notes were cited
    offenders = [p.relative_to(ROOT) for p in _tracked_text_files() if pattern.search(p.read_text())]
    assert not offenders, f"cite docs/architecture.md instead: {offenders}"


def test_every_docs_file_the_code_and_docs_cite_exists():
    cited = set()
    for path in _tracked_text_files():
        cited |= set(re.findall(r"\bdocs/[\w-]+\.md", path.read_text()))
    missing = sorted(c for c in cited if not (ROOT / c).is_file())
    assert cited and not missing, missing
