"""The instance-level set from the ``pybullet`` wheel's data folder (``pybullet_data``): real meshes that
ship inside an installable package, so tests and benchmarks need no download.

Two groups, used as the class labels:

- ``random``: the ~1,000 procedurally generated meshes of ``random_urdfs/<NNN>/<NNN>.obj`` — one shape
  each, no category: telling them apart is instance recognition.
- ``object``: :data:`REAL_OBJECTS`, the real-world meshes among the data (toys, a mug, a Stanford bunny,
  robot links); duplicates (mirrored links, identical wheels) and plain cubes are left out.

Random meshes are taken in number order: the first ``n_train`` are train (validation is carved from them
as for every source), the next ``n_test`` test; the real objects are all test. With two fits per object
(``fits_per_object: 2``) the set answers "is this the object I saw before?" among many similar ones.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .catalog import ObjectSpec

#: Real object meshes of pybullet_data 3.2.x, by object name.
REAL_OBJECTS: dict[str, str] = {
    "duck": "duck.obj",
    "bunny": "bunny.obj",
    "teddy": "teddy2_VHACD_CHs.obj",
    "lego": "lego/lego.obj",
    "torus": "torus/torus_textured.obj",
    "mug": "objects/mug.obj",
    "soccerball": "soccerball.obj",
    "tray": "tray/tray_textured.obj",
    "domino": "domino/domino.obj",
    "cone": "racecar/meshes/cone.obj",
    "hokuyo": "racecar/meshes/hokuyo.obj",
    **{f"kuka_link_{i}": f"kuka_iiwa/meshes/link_{i}.obj" for i in range(8)},
    **{f"panda_link_{i}": f"franka_panda/meshes/visual/link{i}.obj" for i in range(1, 7)},
    "panda_hand": "franka_panda/meshes/visual/hand.obj",
    **{f"aliengo_{p}": f"aliengo/meshes/{p}.obj" for p in ("trunk", "hip", "thigh", "calf")},
}


def pybullet_data_root() -> Path:
    """The installed ``pybullet_data`` folder.

    Raises:
        ModuleNotFoundError: pybullet is not installed (says how to install it).
    """
    spec = importlib.util.find_spec("pybullet_data")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "source 'pybullet' needs the pybullet wheel's data folder: pip install pybullet==3.2.7 "
            "(or pass --root <a pybullet_data folder>)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def pybullet_objects(root: str | Path | None, n_train: int, n_test: int) -> list[ObjectSpec]:
    """The objects of the instance-level set.

    Args:
        root: A ``pybullet_data`` folder; None or "" finds the installed one.
        n_train: Random meshes in the train split (the first by number).
        n_test: Random meshes in the test split (the next ones).

    Returns:
        list of :class:`ObjectSpec`: ``random/random_<NNN>`` then ``object/<name>`` for every real object
        present (missing files are skipped: data folders of other pybullet versions differ).

    Raises:
        FileNotFoundError: The folder has no ``random_urdfs``, or fewer random meshes than asked for.
    """
    if n_train < 0 or n_test < 0:
        raise ValueError(f"objects per split must be ≥ 0, got train {n_train}, test {n_test}")
    root = Path(root) if root else pybullet_data_root()
    meshes = sorted(root.glob("random_urdfs/*/*.obj"))
    if not meshes:
        raise FileNotFoundError(
            f"{root}: no random_urdfs/<NNN>/<NNN>.obj meshes (not a pybullet_data folder?)"
        )
    if n_train + n_test > len(meshes):
        raise FileNotFoundError(
            f"{root}: {len(meshes)} random meshes, fewer than the {n_train} + {n_test} asked for"
        )
    specs = [
        ObjectSpec(f"random/random_{path.stem}", "random", "train" if i < n_train else "test", path=path)
        for i, path in enumerate(meshes[: n_train + n_test])
    ]
    specs += [
        ObjectSpec(f"object/{name}", "object", "test", path=root / rel)
        for name, rel in REAL_OBJECTS.items()
        if (root / rel).is_file()
    ]
    return specs
