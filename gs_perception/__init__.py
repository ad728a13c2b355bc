"""gs_perception: a 3D Gaussian Splatting memory and cross-modal perception for robots.

Layers (docs/architecture.md §2), each importing only from those before it: ``core`` (ROS-free cameras,
Gaussians, rendering, fitting, memory) ← ``data``, ``models``, ``eval`` ← ``pipeline`` (the online step
shared by nodes and bag replay) ← ``ros`` (the only ROS importer), ``cli``.
``test/test_layers.py`` enforces this. Importing this package has no side effects and imports no subpackage.
"""

__version__ = "0.1.0"
