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


def _layout_sections() -> dict[str, set[str]]:
    """README "Layout" block: folder (as written, e.g. ``gs_perception/core/``) → the words of its lines."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```\n", 1)[1].split("```", 1)[0]
    sections: dict[str, set[str]] = {}
    current = ""
    for line in block.splitlines():
        if line and not line.startswith(" "):
            current, line = line.split()[0], line[len(line.split()[0]) :]
        sections.setdefault(current, set()).update(re.findall(r"[\w.-]+", line))
    return sections


def test_the_readme_layout_names_every_module_and_file_that_exists():
    sections = _layout_sections()
    missing, stale = [], []
    for folder, words in sections.items():
        path = ROOT / folder
        if folder.startswith("gs_perception/") and path.is_dir():
            present = {p.stem for p in path.glob("*.py") if p.stem != "__init__"}
            present |= {p.name for p in path.iterdir() if (p / "__init__.py").is_file()}
            modules = [w for w in words if w.islower() and "_" in w and "." not in w]
            files = [w for w in words if re.fullmatch(r"\w+\.(pt|md)", w)]
            stale += [f"{folder}{w}" for w in modules if w not in present]
            stale += [f"{folder}{w}" for w in files if not (path / w).is_file()]
        elif folder in ("config/", "benchmarks/", "launch/", "training/", "docs/"):
            present = {p.name for p in path.iterdir() if p.is_file() and p.suffix in (".py", ".yaml", ".md")}
            stale += [f"{folder}{w}" for w in words if "." in w and w not in present]
        else:
            continue
        missing += [f"{folder}{name}" for name in sorted(present) if name not in words]
    assert not missing, f"README layout does not mention: {missing}"
    assert not stale, f"README layout names what does not exist: {stale}"
