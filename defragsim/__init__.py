"""defragsim: a numba model of the Linux page allocator.

Public API::

    from defragsim import run, Config, Patches
    result = run("steady", Config(mem="1G", defrag_mode=1))
    result.vmstat, result.extfrag, result.timeseries, result.pageblocks()
    print(result.pagetypeinfo())

See README.md for a tour.
"""
from .provenance import __version__, model_sha256

from .config import PATCH_SUBJECTS, Config, ConfigError, Patches
from .errors import DefragsimError
from .gfp import GfpError, parse_gfp
from .sim import Result, run
from .workloads import ScenarioError, Workload, build_workload, list_scenarios, load_scenario

__all__ = ["run", "Result", "Config", "ConfigError", "DefragsimError", "Patches", "PATCH_SUBJECTS", "GfpError",
           "parse_gfp", "ScenarioError", "Workload", "build_workload", "list_scenarios",
           "load_scenario", "__version__", "model_sha256"]
