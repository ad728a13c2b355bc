"""Encoders and losses: ResNet-18 image encoder, PointNet / PointNet++ Gaussian encoders, fusion head,
cross-view and cross-modality losses, and the encoder bundle (save/load). Depends on ``core`` only."""
