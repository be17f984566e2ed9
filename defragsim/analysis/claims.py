"""The claims of "mm: fix reclaim storms in defrag_mode" (and of the
defrag_mode changelog) as data, and their verdicts computed from runs.

A :class:`Claim` holds what the series says (its text), the metric it is
about, the two configurations it compares (labels of a
:class:`~defragsim.analysis.compare.Comparison`) and the expected direction.
:func:`judge` computes the verdict from the means over seeds:

- ``"agrees"``: the numbers go the claimed way;
- ``"does NOT agree"``: they do not;
- ``"cannot say"``: the runs cannot decide (e.g. no OOM kill at this size).

The story notebooks (``02-reclaim-storm``, ``03-defrag-mode``) print these
verdicts; rerun them with other sizes or seeds and the verdicts follow the
numbers.  The configurations of each step are data here too
(``*_CONFIGS``: label -> spec, for :func:`~defragsim.analysis.compare.compare`).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import ConfigError
from ..sim.metrics import nonmovable
from .compare import Comparison, seed_mean
from .onset import storm_onset_growth

AGREES, DISAGREES, CANNOT_SAY = "agrees", "does NOT agree", "cannot say"

# headline metrics (Result.metrics("headline")) the claims are about
SWAP_OUT = "pswpout"
RETRIES = "reclaim retries, non-movable requests"
FRAGMENTING = "extfrag fragmenting (fallback_order<pageblock)"
STALL = "stall s, non-movable requests"
OOM_KILL = "oom_kill"

#: Metrics summed from the means over seeds: name -> terms.
SUMS = {"OOM kills (kernel + guard)": ("oom_kill", "oomd kills")}
#: Ratios of the means over seeds: name -> (numerator, denominator terms);
#: the value is numerator / max(sum of the denominator terms, 1).
RATIOS = {
    "THP fault success rate": ("thp_fault_alloc", ("thp_fault_alloc", "thp_fault_fallback")),
    "compaction success rate, non-movable requests": (
        "compact_success, non-movable requests", ("compact_stall, non-movable requests",)),
}

#: direction -> whether the claim holds for (before, after, reference value, claim)
DIRECTIONS = {
    "more": lambda b, a, r, c: a > c.factor * b,
    "less": lambda b, a, r, c: a < c.factor * b,
    "no more": lambda b, a, r, c: a <= b,
    "no less": lambda b, a, r, c: a >= b,
    "toward": lambda b, a, r, c: abs(a - r) < abs(b - r),
    "about zero": lambda b, a, r, c: a <= max(c.factor * r, c.floor),
}


@dataclass(frozen=True)
class Claim:
    """One claim: ``metric`` goes ``direction`` from ``configs[0]`` (before)
    to ``configs[1]`` (after).

    Directions: ``"more"`` (after > factor * before), ``"less"`` (after <
    factor * before), ``"no more"``, ``"no less"``, ``"toward"`` (after is
    nearer ``ref`` than before is) and ``"about zero"`` (after <= max(factor *
    ref, floor)).  ``unseen``: the verdict is "cannot say", for this reason,
    when the metric is zero in every configuration.  ``shown``, ``fmt`` and
    ``unit`` say how the numbers are printed."""

    text: str
    metric: str
    configs: tuple
    direction: str
    factor: float = 1.0
    ref: str | None = None
    floor: float = 0.0
    shown: str = ""
    fmt: str = ",.0f"
    unit: str = ""
    unseen: str | None = None

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ConfigError(f"claim {self.text!r}: unknown direction {self.direction!r} "
                              f"(known: {', '.join(DIRECTIONS)})")
        if self.direction in ("toward", "about zero") and self.ref is None:
            raise ConfigError(f"claim {self.text!r}: {self.direction!r} needs a reference "
                              "configuration (ref=)")

    def number(self, x: float) -> str:
        return f"{x:{self.fmt}}{self.unit}"


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict (:data:`AGREES`, :data:`DISAGREES` or :data:`CANNOT_SAY`)
    and the line that says it."""

    verdict: str
    text: str

    def __str__(self) -> str:
        return f"{self.verdict + ':':<17}{self.text}"


@dataclass(frozen=True)
class NoChange:
    """A "no functional change" claim: two runs that differ only by the patch
    give identical ``parts`` (Result attributes); ``show``: a diagnostic
    printed for both runs."""

    text: str
    parts: tuple
    show: str | None = None
    shown: str = ""


# -- the claims, step by step -------------------------------------------------------

#: 1. The problem (patch 4's changelog): defrag_mode=1 without the series.
PROBLEM_CONFIGS = {"dm=0": "defrag_mode=0", "dm=1": "defrag_mode=1"}
PROBLEM = (
    Claim("defrag_mode=1 swaps more", SWAP_OUT, ("dm=0", "dm=1"), "more", factor=1.2,
          shown="pswpout"),
    Claim("non-movable requests spin in reclaim retries", RETRIES, ("dm=0", "dm=1"), "more"),
    Claim("... in exchange for less fragmentation", FRAGMENTING, ("dm=0", "dm=1"), "less",
          shown="fragmenting extfrag"),
)

#: 2. and 3. Patches 1 and 3: no functional change.
PATCH1 = NoChange("patch 1 changes no allocator result (vmstat, extfrag events, time series "
                  "identical)", ("vmstat", "extfrag", "timeseries"))
PATCH3 = NoChange("patch 3 is bit-identical", ("vmstat", "extfrag", "compaction_events"),
                  show="compact_captured", shown="pages captured by compaction in both")

#: 4. Patches 2 and 4: the storm ends (claims: :func:`storm_ends`).
SERIES_CONFIGS = {"dm=0": "defrag_mode=0", "dm=1": "defrag_mode=1",
                  "dm=1 +3,4": "defrag_mode=1,patches=3,4",
                  "dm=1 +2,3,4": "defrag_mode=1,patches=2,3,4"}
FIXES = ("dm=1 +3,4", "dm=1 +2,3,4")


def storm_ends(fixed: str, *, storm: str = "dm=1", reference: str = "dm=0") -> tuple:
    """Patch 4's claims for the configuration ``fixed`` against ``storm``
    (defrag_mode=1 without the series), with ``reference`` (defrag_mode=0)."""
    c = (storm, fixed)
    return (
        Claim("far fewer non-movable reclaim retries", RETRIES, c, "less", factor=0.5),
        Claim(f"swap-out back toward {reference}", SWAP_OUT, c, "toward", ref=reference),
        Claim("less non-movable stall", STALL, c, "less", fmt=".3f", unit=" s"),
        Claim("pollution stays about zero", FRAGMENTING, c, "about zero", ref=reference,
              factor=0.1, floor=5, shown="fragmenting extfrag"),
        Claim("no more OOM kills", OOM_KILL, c, "no more", fmt=".1f",
              unseen="no run of this size killed anything"),
    )


#: OOM kills with the userspace pressure guard (oomd) on.
OOMD_CONFIGS = {"dm=0": "defrag_mode=0,oomd=true", "dm=1": "defrag_mode=1,oomd=true",
                "dm=1 +series": "defrag_mode=1,patches=all,oomd=true"}
OOMD = (
    Claim("fewer OOM kills with the series", "OOM kills (kernel + guard)", ("dm=1", "dm=1 +series"),
          "less", fmt=".1f", unit=" per run", unseen="no guard or kernel OOM kill at this size"),
)

#: What patch 2 adds on top of 4 (configurations of :data:`SERIES_CONFIGS`).
PATCH2 = (
    Claim("patch 2 lets non-movable pageblock-order compaction find source blocks and migrate",
          "compact_migrated, non-movable requests", FIXES, "more", fmt=",.1f",
          shown="pages migrated"),
    Claim("... and succeed more often", "compaction success rate, non-movable requests", FIXES,
          "no less", fmt=".0%", unit=" of stalls"),
)

#: 5. The onset sweep (:func:`~defragsim.analysis.onset.storm_onset`), judged at
#: every growth rate; metrics are the sweep's columns.
ONSET = (
    Claim("at every growth rate, no more non-movable reclaim retries with the series than "
          "without", "nonmovable_reclaim_retries", ("defrag_mode=1", "defrag_mode=1 + series"),
          "no more"),
    Claim("... without bringing fragmentation back (fragmenting extfrag about zero at every "
          "rate)", "extfrag_fragmenting", ("defrag_mode=1", "defrag_mode=1 + series"),
          "about zero", ref="defrag_mode=0", factor=0.1, floor=5),
)

#: The defrag_mode changelog (v6.15) on the kernel-build workload (notebook 03).
KBUILD_CONFIGS = {"vanilla": "defrag_mode=0", "defrag_mode": "defrag_mode=1"}
KBUILD = (
    Claim("fragmenting fallbacks fall (upstream ~186k -> 0)", FRAGMENTING,
          ("vanilla", "defrag_mode"), "less"),
    Claim("THP success rate rises (upstream 68% -> 92%)", "THP fault success rate",
          ("vanilla", "defrag_mode"), "more", fmt=".0%"),
)


# -- verdicts -----------------------------------------------------------------------

def _nonmovable_metrics(r) -> dict:
    """Each per-request-type diagnostic summed over the non-movable types."""
    d = r.diagnostics
    return {f"{k}, non-movable requests": nonmovable(d, k) for k, v in d.items()
            if isinstance(v, dict) and "unmovable" in v and "reclaimable" in v}


def config_means(cmp: Comparison) -> dict:
    """label -> {metric: mean over the seeds}: every counter, each per-type
    diagnostic summed over the non-movable types (``"KEY, non-movable
    requests"``), the headline metrics, then :data:`SUMS` and :data:`RATIOS`."""
    counters, headline = cmp.means("counters"), cmp.means("headline")
    out = {}
    for lab, rs in cmp.results.items():
        m = {**counters[lab], **seed_mean([_nonmovable_metrics(r) for r in rs]), **headline[lab]}
        for name, terms in SUMS.items():
            m[name] = sum(m[t] for t in terms)
        for name, (num, den) in RATIOS.items():
            m[name] = m[num] / max(sum(m[t] for t in den), 1)
        out[lab] = m
    return out


def _value(means: dict, label: str, claim: Claim) -> float:
    if label not in means:
        raise ConfigError(f"claim {claim.text!r}: no configuration {label!r} "
                          f"(have: {', '.join(means)})")
    if claim.metric not in means[label]:
        raise ConfigError(f"claim {claim.text!r}: no metric {claim.metric!r} in [{label}]")
    return means[label][claim.metric]


def judge(claim: Claim, means) -> Verdict:
    """The verdict on ``claim`` from ``means``: a Comparison, or label ->
    {metric: mean over seeds} (:func:`config_means`)."""
    if isinstance(means, Comparison):
        means = config_means(means)
    before, after = (_value(means, lab, claim) for lab in claim.configs)
    ref = _value(means, claim.ref, claim) if claim.ref is not None else None
    if claim.unseen and all(_value(means, lab, claim) == 0 for lab in means):
        return Verdict(CANNOT_SAY, f"{claim.text} -- {claim.unseen}")
    ok = DIRECTIONS[claim.direction](before, after, ref, claim)
    nums = f"{claim.number(before)} -> {claim.number(after)}"
    if ref is not None:
        nums += f" ({claim.ref}: {claim.number(ref)})"
    shown = f"{claim.shown} " if claim.shown else ""
    return Verdict(AGREES if ok else DISAGREES, f"{claim.text}: {shown}{nums}")


def verdicts(claims, means) -> str:
    """One verdict line per claim (see :func:`judge`)."""
    if isinstance(means, Comparison):
        means = config_means(means)
    return "\n".join(str(judge(c, means)) for c in claims)


def _same(x, y) -> bool:
    return x.equals(y) if isinstance(x, pd.DataFrame) else x == y


def judge_no_change(claim: NoChange, a, b) -> Verdict:
    """Agrees when the runs ``a`` (without the patch) and ``b`` (with it) have
    identical ``claim.parts``."""
    same = all(_same(getattr(a, p), getattr(b, p)) for p in claim.parts)
    text = claim.text
    if claim.show:
        text += f" ({claim.shown or claim.show}: {a.diagnostics[claim.show]} / " \
                f"{b.diagnostics[claim.show]})"
    return Verdict(AGREES if same else DISAGREES, text)


# -- the onset sweep ----------------------------------------------------------------

def onset_means(df: pd.DataFrame) -> dict:
    """growth rate -> label -> {column: mean over seeds} of a storm_onset() frame."""
    m = df.groupby(["growth_mib_s_per_gib", "config"], sort=True).mean(numeric_only=True)
    out: dict = {}
    for (x, lab), row in m.iterrows():
        out.setdefault(x, {})[lab] = row.to_dict()
    return out


def judge_every(claim: Claim, means_by_rate: dict) -> Verdict:
    """``claim`` at every growth rate: agrees when it agrees at each."""
    vs = [judge(claim, m) for m in means_by_rate.values()]
    n_ok = sum(v.verdict == AGREES for v in vs)
    if all(v.verdict == CANNOT_SAY for v in vs):
        return Verdict(CANNOT_SAY, vs[0].text)
    return Verdict(AGREES if n_ok == len(vs) else DISAGREES,
                   f"{claim.text} ({n_ok} of {len(vs)} rates)")


def onset_moves(df: pd.DataFrame, storm: str = "defrag_mode=1",
                fixed: str = "defrag_mode=1 + series") -> Verdict:
    """The series moves the storm's onset to a higher growth rate, or removes it."""
    text = "the series moves the storm's onset to a higher growth rate or removes it"
    on1, on2 = storm_onset_growth(df, storm), storm_onset_growth(df, fixed)
    if on1 is None:
        return Verdict(CANNOT_SAY, f"{text} -- no storm without the series in this sweep")
    shown = f"{on2:g} MiB/s per GiB" if on2 is not None else "none in the sweep"
    return Verdict(AGREES if on2 is None or on2 > on1 else DISAGREES,
                   f"{text}: onset {on1:g} MiB/s per GiB -> {shown}")


def onset_verdicts(df: pd.DataFrame) -> str:
    """The onset sweep's verdicts: :func:`onset_moves`, then :data:`ONSET` at
    every growth rate."""
    by_rate = onset_means(df)
    return "\n".join([str(onset_moves(df))] + [str(judge_every(c, by_rate)) for c in ONSET])


__all__ = ["AGREES", "DISAGREES", "CANNOT_SAY", "Claim", "Verdict", "NoChange", "judge",
           "verdicts", "judge_no_change", "config_means", "storm_ends", "onset_verdicts",
           "PROBLEM", "PROBLEM_CONFIGS", "PATCH1", "PATCH3", "SERIES_CONFIGS", "FIXES",
           "OOMD", "OOMD_CONFIGS", "PATCH2", "ONSET", "KBUILD", "KBUILD_CONFIGS"]
