"""The serving simulator: latency under load, max rate at a latency SLO and $ per image there, for any GPU.

Built on isolated-run records (measured, or projected with intervals): :mod:`.service` turns them into seconds
per call at every batch size, :mod:`.exact` solves the queues that have a closed form (M/D/1, M/M/1, D/D/1),
:mod:`.simulate` runs the others, :mod:`.estimate` picks one or the other and simulates to a stated precision,
:mod:`.search` finds the max rate at an SLO and the replicas a target rate needs, and :mod:`.gpus` does it for
every catalog GPU. Every load point carries its :class:`~.point.Basis`: how its figures were computed.
"""
