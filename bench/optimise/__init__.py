"""Speed settings of a run (attention kernels, compilation, memory layout, caching, quantization), each applied
through the library's own API, and the judgement of what they cost and change: compile time, break-even,
image quality against the baseline cell, rankings.

``static`` decides without torch what cannot apply (the sweep skips those runs before starting a child);
``apply`` is called by the child after the pipelines are built; ``quality`` and ``ranking`` read images and
records afterwards.
"""
