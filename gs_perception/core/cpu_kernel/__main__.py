"""``python -m gs_perception.core.cpu_kernel``: build (or load the cached) C++ CPU rasteriser and say which.

``make setup`` runs it, so the first render does not wait ~25 s for the compiler; exit status 0 either way
(without a compiler the torch backend is used, after the warning this prints).
"""

import time

from . import _build_root, cpp_available

start = time.perf_counter()
state = "ready" if cpp_available() else "unavailable (the torch backend is used)"
print(f"C++ CPU rasteriser: {state} in {time.perf_counter() - start:.1f} s ({_build_root()})")
