"""The online step shared by the ROS nodes and bag replay: frames in → Gaussian memory → encoders →
embeddings, class predictions and memory-rendered views. ROS-free; ``ros`` and ``cli`` build on it."""
