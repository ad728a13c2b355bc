"""Learning: the datasets the encoders learn from, the self-supervised trainer and its checkpoints, the
supervised baselines, and the evaluation of trained runs (embeddings → the measures of ``eval`` → tables and
the exported bundle). Depends on ``core``, ``data``, ``models`` and ``eval``; never on ``pipeline`` or ROS."""
