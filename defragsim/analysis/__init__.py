"""Reading Results: compare, onset, sweep, replay against the kernel, reports.

Everything here takes :class:`~defragsim.sim.Result` objects (or runs them
through :func:`defragsim.sim.run`) and never reaches into the model's state.
"""
