"""Evaluation: metrics, linear probes (SVM / logistic), result tables and plots (t-SNE, confusion).
Depends on ``core`` (and the sibling ``data`` / ``models`` layers) only, never on ``pipeline`` or ROS."""
