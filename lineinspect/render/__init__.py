"""The procedural world: machined parts with exact defect masks, on a belt, under a camera.

Shared by every role that needs pictures of parts: the edge's synthetic camera source, the
training-data writers in ``models/data`` and the benchmarks. It imports nothing but numpy, OpenCV
and ``lineinspect`` itself, so any side may depend on it.
"""
