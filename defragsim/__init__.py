"""defragsim: a numba model of the Linux page allocator.

Public API::

    from defragsim import run, Config, Patches
    result = run("steady", Config(mem="1G", defrag_mode=1))
    result.vmstat, result.extfrag, result.timeseries, result.pageblocks()
    print(result.pagetypeinfo())

See README.md for a tour.

The simulator and the workloads (numba, pandas and the kernel mirror: about a
second to import) load on first use of ``run``, ``Result``, ``Workload``,
``build_workload``, ...: ``from defragsim.widgets import PatchExplorer``
shows the explorer before any of that is imported.
"""
from .provenance import __version__, model_sha256

from .config import PATCH_SUBJECTS, Config, ConfigError, Patches
from .errors import DefragsimError, ScenarioError
from .gfp import GfpError, parse_gfp

#: name -> the submodule it comes from, imported on first access (PEP 562)
_LAZY = {"run": "sim", "Result": "sim", "Workload": "workloads",
         "build_workload": "workloads", "list_scenarios": "workloads",
         "load_scenario": "workloads"}

__all__ = ["run", "Result", "Config", "ConfigError", "DefragsimError", "Patches", "PATCH_SUBJECTS", "GfpError",
           "parse_gfp", "ScenarioError", "Workload", "build_workload", "list_scenarios",
           "load_scenario", "__version__", "model_sha256"]


def __getattr__(name):
    sub = _LAZY.get(name)
    if sub is None:
        raise AttributeError(f"module 'defragsim' has no attribute {name!r}")
    # lazily (see the module docstring): importing the simulator costs about a second
    import importlib
    value = getattr(importlib.import_module(f".{sub}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
