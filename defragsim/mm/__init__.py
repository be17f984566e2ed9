"""The kernel mirror: jitted numba kernels named after ``mm/*.c``.

- :mod:`.state`: ``struct zone`` / ``struct page`` as a namedtuple of arrays,
  and the boot-time setup (watermarks, lowmem reserve, pcp batches);
- :mod:`.page_alloc`: ``mm/page_alloc.c`` (buddy, pcp, fallbacks, slowpath);
- :mod:`.compaction`: ``mm/compaction.c``;
- :mod:`.vmscan`: ``mm/vmscan.c`` and ``mm/workingset.c`` (LRU, kswapd);
- :mod:`.oom_kill`: ``mm/oom_kill.c``;
- :mod:`.driver`: applying a workload's ops (the model's "userspace");
- :mod:`.invariants`: the ``VM_BUG_ON`` checker;
- :mod:`.costs`: the simulated-time cost table.

It imports only :mod:`defragsim.constants`, :mod:`defragsim.gfp`,
:mod:`defragsim._jit` and itself.  The cycles inside it mirror the kernel's
single namespace.
"""
