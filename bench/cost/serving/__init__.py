"""The serving simulator: latency under load, max rate at a latency SLO and $ per image there, for any GPU.

Built on isolated-run records (measured, or projected with intervals): :mod:`.service` turns them into seconds
per call at every batch size, :mod:`.simulate` runs the serving queue, :mod:`.search` finds the max rate at an
SLO and the replicas a target rate needs, and :mod:`.gpus` does it for every catalog GPU.
"""
