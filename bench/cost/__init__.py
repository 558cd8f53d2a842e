"""Cost of images on rented GPUs: catalog, $ maths, FLOP/byte counts, VRAM estimates, roofline projection.

Nothing here does I/O except reading the catalog YAML, and only ``flops`` imports torch (lazily), so
``kbench gpus`` and ``kbench cost`` stay fast.
"""
