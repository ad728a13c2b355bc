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


def test_the_readme_python_example_runs_on_what_make_demo_writes(tmp_path, monkeypatch):
    import torch

    from gs_perception.core.gaussians import GaussianCloud
    from gs_perception.core.ply import write_ply

    readme = (ROOT / "README.md").read_text()
    code = readme.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    path = re.search(r'read_ply\("([^"]+)"\)', code).group(1)
    (tmp_path / path).parent.mkdir(parents=True)
    write_ply(tmp_path / path, GaussianCloud.from_points(torch.rand(50, 3) - 0.5, sh_degree=0))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["out"].colors.shape == (8, 96, 128, 3)
