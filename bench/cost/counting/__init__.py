"""Counting on the meta device: op counts (:mod:`.ops`), meta building (:mod:`.meta`), the inputs a call plan's
component calls take (:mod:`.inputs`), per-workload profiles (:mod:`.profile`), the disk cache (:mod:`.cache`),
the SD 1.5 reference (:mod:`.reference`) and ``kbench flops`` rows (:mod:`.rows`)."""
