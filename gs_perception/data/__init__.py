"""Data layer: meshes (any trimesh format, procedural shapes), view rendering and posed image sets.

ROS-free; may import :mod:`gs_perception.core`. Nothing here imports pyrender/OpenGL at import time: the
renderer is imported lazily inside :mod:`gs_perception.data.views` when views are rendered.
"""
