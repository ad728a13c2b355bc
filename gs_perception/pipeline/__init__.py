"""The online pipeline shared by the ROS nodes and bag replay (docs/architecture.md §2): frames → memory →
encoders → outputs.

Imports no ROS. See :mod:`gs_perception.pipeline.step` and :mod:`gs_perception.pipeline.recognition`.
"""
