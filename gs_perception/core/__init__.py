"""ROS-free core: cameras, Gaussian clouds, I/O, rendering and per-scene fitting."""
