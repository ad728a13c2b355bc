"""Measures: pretext-task metrics, linear probes, result tables and plots (t-SNE), comparison pictures and
dataset reports. Depends on ``core``, ``data`` and ``models``; never on ``train``, ``pipeline`` or ROS."""
