"""Every error a user's input can cause, under one base class.

The command line catches :class:`DefragsimError` (and nothing narrower) and
prints one line ``defragsim: error: <where>: <problem>`` with exit status 2;
the Python API raises the same types.  Each subclass stays a ``ValueError`` or
``RuntimeError`` as it always was, so existing ``except ValueError`` code keeps
working.
"""
from __future__ import annotations


class DefragsimError(Exception):
    """Base of every input error; the message names where and what, in one line."""


class ConfigError(DefragsimError, ValueError):
    """An impossible or malformed configuration value; the message names the field."""


class GfpError(DefragsimError, ValueError):
    """A gfp string that cannot be parsed; the message names the bad flag."""


class ScenarioError(DefragsimError, ValueError):
    """A scenario that cannot be loaded; the message names file, key and problem."""


class TraceError(DefragsimError, ValueError):
    """A trace that cannot be read: names the file, the line and the problem."""


class CaptureError(DefragsimError, RuntimeError):
    """Recording a live machine is not possible here; the message says what is missing."""


class SweepError(DefragsimError, RuntimeError):
    """A sweep that cannot run as asked: a bad patch spec, executor or seed count, or a
    stored result that does not reproduce.  (Failed tasks are not an input error:
    ``analysis.sweep.SweepTaskError``, exit 1.)"""


class OutputError(DefragsimError, OSError):
    """An output folder or file that cannot be written (``--out`` a file, under a
    file, unwritable, or a full disk): names the path and the problem.  Still an
    ``OSError``."""
