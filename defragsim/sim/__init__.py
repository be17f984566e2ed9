"""Running a workload through the kernel mirror: :func:`run` and :class:`Result`."""
from .loop import Result, run

__all__ = ["Result", "run"]
