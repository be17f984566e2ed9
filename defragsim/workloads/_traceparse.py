"""Byte-level trace parsers in numba (the fast path of :mod:`defragsim.workloads.trace`).

They parse a chunk of decompressed bytes holding whole lines and fill
preallocated columns.  On anything irregular they return the index of the
offending line; the caller then hands the file to the line-by-line Python
reader, which reports the file, line number and text (or skips and counts).
Model-free helpers, compiled with the package's numba options; the per-line
steps are ``inline="always"`` helpers, so the loops compile as one function.
"""
from __future__ import annotations

import numpy as np

from .._jit import njit

EV_ALLOC, EV_FREE, EV_EXTFRAG = 0, 1, 2
# ev codes of the CSV schema
_A, _F, _B, _Z, _D, _X = ord("A"), ord("F"), ord("B"), ord("Z"), ord("D"), ord("X")
NL, COMMA = 10, 44
SPACE, TAB, HASH, COLON, DOT = 32, 9, 35, 58, 46
#: the fields of a CSV line: t_ns,cpu,pid,ev,pfn,order,mt,gfp,a,b,c
CSV_FIELDS = 11


#: the largest int64: a longer number is not ok (the line reader then names it)
_I64_MAX = 9223372036854775807
_I64_MAX_DIV10, _I64_MAX_MOD10 = divmod(_I64_MAX, 10)


@njit
def _int(buf, i, j):
    """Signed decimal in buf[i:j]; (value, ok); not ok beyond int64."""
    if i >= j:
        return 0, False
    neg = False
    if buf[i] == 45:          # '-'
        neg = True
        i += 1
        if i >= j:
            return 0, False
    v = 0
    while i < j:
        c = buf[i]
        if c < 48 or c > 57:
            return 0, False
        # v * 10 + digit > _I64_MAX, without a division per digit
        if v >= _I64_MAX_DIV10 and (v > _I64_MAX_DIV10 or c - 48 > _I64_MAX_MOD10):
            return 0, False
        v = v * 10 + (c - 48)
        i += 1
    return (-v if neg else v), True


@njit
def _hex(buf, i, j):
    """Hex digits in buf[i:j]; (value, ok); not ok beyond int64."""
    if i >= j:
        return 0, False
    v = 0
    while i < j:
        c = buf[i]
        if 48 <= c <= 57:
            d = c - 48
        elif 97 <= c <= 102:
            d = c - 87
        elif 65 <= c <= 70:
            d = c - 55
        else:
            return 0, False
        if v > (_I64_MAX - d) >> 4:
            return 0, False
        v = v * 16 + d
        i += 1
    return v, True


@njit(inline="always")
def _pfn(buf, i, j):
    """A hex pfn in buf[i:j], with or without "0x"; (value, ok)."""
    if j - i > 2 and buf[i] == 48 and buf[i + 1] == 120:
        i += 2
    return _hex(buf, i, j)


@njit(inline="always")
def _put(rows, n, ev, pfn, order, mt, fo, fmt, co):
    """Row ``n`` of the event columns ``rows`` = (ev, pfn, order, mt, fo, fmt, co)."""
    rows[0][n] = ev
    rows[1][n] = pfn
    rows[2][n] = order
    rows[3][n] = mt
    rows[4][n] = fo
    rows[5][n] = fmt
    rows[6][n] = co


# --- the CSV schema -----------------------------------------------------------------------

@njit(inline="always")
def _split_csv_line(buf, pos, starts, ends):
    """Bounds of the comma-separated fields of the line at ``pos``, missing
    trailing fields as empty ones: (fields, end of line); fields = -1 when
    there are more than 11."""
    nbuf = buf.shape[0]
    k = 0
    starts[0] = pos
    p = pos
    while p < nbuf and buf[p] != NL:
        if buf[p] == COMMA:
            if k >= CSV_FIELDS - 1:
                return -1, p
            ends[k] = p
            k += 1
            starts[k] = p + 1
        p += 1
    ends[k] = p
    for q in range(k + 1, CSV_FIELDS):            # trailing empty fields may be left out
        starts[q] = p
        ends[q] = p
    return k + 1, p


@njit
def parse_csv_chunk(buf, n_lines, t, ev, pfn, order, mt, gfp, pid, cpu, fo, fmt, co, counts):
    """The shared/traces CSV schema, ``buf`` = whole lines (no header).

    counts: [A, F, B, Z, D, X] lines.  Returns (rows written, -1) or (rows,
    index of the first bad line)."""
    rows = (ev, pfn, order, mt, fo, fmt, co)
    pos = 0
    n = 0
    line = 0
    starts = np.zeros(CSV_FIELDS, np.int64)
    ends = np.zeros(CSV_FIELDS, np.int64)
    while pos < buf.shape[0]:
        nf, p = _split_csv_line(buf, pos, starts, ends)
        pos = p + 1
        if nf == 1 and ends[0] == starts[0]:      # empty line
            line += 1
            continue
        if nf < 6 or ends[3] - starts[3] != 1:
            return n, line
        code = buf[starts[3]]
        if code == _B:
            counts[2] += 1
        elif code == _Z:
            counts[3] += 1
        elif code == _D:
            counts[4] += 1
        elif code == _A or code == _F or code == _X:
            tv, ok1 = _int(buf, starts[0], ends[0])
            cv, ok2 = _int(buf, starts[1], ends[1])
            pv, ok3 = _int(buf, starts[2], ends[2])
            fv, ok4 = _int(buf, starts[4], ends[4])
            ov, ok5 = _int(buf, starts[5], ends[5])
            if not (ok1 and ok2 and ok3 and ok4 and ok5) or ov < 0 or ov > 10:
                return n, line
            t[n] = tv
            cpu[n] = cv
            pid[n] = pv
            if code == _F:
                _put(rows, n, EV_FREE, fv, ov, -1, -1, -1, 0)
                gfp[n] = 0
                counts[1] += 1
            else:
                mv, ok = _int(buf, starts[6], ends[6])
                if not ok:
                    return n, line
                if code == _A:
                    g, ok = _hex(buf, starts[7], ends[7])
                    if not ok:
                        return n, line
                    _put(rows, n, EV_ALLOC, fv, ov, mv, -1, -1, 0)
                    gfp[n] = g
                    counts[0] += 1
                else:
                    av, oka = _int(buf, starts[8], ends[8])
                    bv, okb = _int(buf, starts[9], ends[9])
                    xv, okc = _int(buf, starts[10], ends[10])
                    if not (oka and okb and okc):
                        return n, line
                    _put(rows, n, EV_EXTFRAG, fv, ov, mv, av, bv, xv)
                    gfp[n] = 0
                    counts[5] += 1
            n += 1
        else:
            return n, line
        line += 1
    return n, -1


# --- tracefs / trace-cmd / perf script text ---------------------------------------------

@njit
def _fnv(buf, i, j):
    h = np.uint64(14695981039346656037)
    for k in range(i, j):
        h = (h ^ np.uint64(buf[k])) * np.uint64(1099511628211)
    return np.int64(h & np.uint64(0x7FFFFFFFFFFFFFFF))


@njit
def _startswith(buf, i, j, lit):
    if j - i < lit.shape[0]:
        return False
    for k in range(lit.shape[0]):
        if buf[i + k] != lit[k]:
            return False
    return True


@njit
def _scan_fields(buf, i, j, keys, klen, offs):
    """One pass over the ``key=value`` tokens of buf[i:j]: offs[k] = (start,
    end) of the value of keys[k] (without the '='), or (-1, -1)."""
    for k in range(offs.shape[0]):
        offs[k, 0] = -1
        offs[k, 1] = -1
    p = i
    while p < j:
        while p < j and buf[p] == SPACE:
            p += 1
        ts = p
        eq = -1
        while p < j and buf[p] != SPACE:
            if eq < 0 and buf[p] == 61:
                eq = p
            p += 1
        if eq < 0:
            continue
        n = eq - ts
        for k in range(keys.shape[0]):
            if klen[k] != n or offs[k, 0] >= 0:
                continue
            same = True
            for q in range(n):
                if buf[ts + q] != keys[k, q]:
                    same = False
                    break
            if same:
                offs[k, 0] = eq + 1
                offs[k, 1] = p
                break


@njit(inline="always")
def _line_start(buf, s, e, cpus_lit, cpu_lit):
    """The first non-blank byte of the line buf[s:e], or -1 for a blank,
    comment or header (``cpus=``, ``CPU ``) line."""
    q = s
    while q < e and (buf[q] == SPACE or buf[q] == TAB):
        q += 1
    if q >= e or buf[q] == HASH or _startswith(buf, q, e, cpus_lit) or _startswith(buf, q, e, cpu_lit):
        return -1
    return q


@njit(inline="always")
def _task_cpu(buf, q, e):
    """``comm-pid [cpu]`` (tracefs, maybe with a "(tgid)" column) or ``comm
    pid [cpu]`` (perf) from ``q``: (cpu, pid, end of comm + 1, index of ']', ok)."""
    lb = q
    while lb < e and buf[lb] != 91:           # '['
        lb += 1
    rb = lb
    while rb < e and buf[rb] != 93:           # ']'
        rb += 1
    if lb >= e or rb >= e:
        return 0, 0, 0, 0, False
    cv, ok = _int(buf, lb + 1, rb)
    if not ok:
        return 0, 0, 0, 0, False
    # pid: the digits before '[' (skipping spaces and a "(tgid)" column)
    k = lb - 1
    while k > q and buf[k] == SPACE:
        k -= 1
    if buf[k] == 41:                          # ')'
        while k > q and buf[k] != 40:
            k -= 1
        k -= 1
        while k > q and buf[k] == SPACE:
            k -= 1
    pe = k + 1
    while k >= q and 48 <= buf[k] <= 57:
        k -= 1
    ps = k + 1
    pv, ok = _int(buf, ps, pe)
    ce = ps - 1                               # '-' (tracefs) or ' ' (perf) before the pid
    return cv, pv, ce, rb, ok and ce >= q


@njit(inline="always")
def _timestamp(buf, p, e):
    """The first ``digits.digits:`` token from ``p`` in ns: (ns, index after
    the token, ok)."""
    ts_s = -1
    while p < e:
        while p < e and buf[p] == SPACE:
            p += 1
        st_ = p
        while p < e and buf[p] != SPACE:
            p += 1
        if p - st_ >= 3 and buf[p - 1] == COLON and 48 <= buf[st_] <= 57:
            ts_s = st_
            break
    if ts_s < 0:
        return 0, p, False
    ts_e = p - 1
    dot = ts_s
    while dot < ts_e and buf[dot] != DOT:
        dot += 1
    sec, ok1 = _int(buf, ts_s, dot)
    frac = 0
    nd = 0
    for r in range(dot + 1, ts_e):
        c = buf[r]
        if c < 48 or c > 57:
            return 0, p, False
        if nd < 9:
            frac = frac * 10 + (c - 48)
            nd += 1
    while nd < 9:
        frac *= 10
        nd += 1
    if not ok1 or dot >= ts_e:
        return 0, p, False
    return sec * 1000000000 + frac, p, True


@njit(inline="always")
def _event_name(buf, p, e):
    """The event name from ``p``: the token ending with ': ' (or the line),
    without a ``system:`` prefix: (start, end, ok)."""
    while p < e and buf[p] == SPACE:
        p += 1
    es = p
    while p < e and not (buf[p] == COLON and (p + 1 >= e or buf[p + 1] == SPACE)):
        p += 1
    if p >= e and (p == es):
        return 0, 0, False
    ee = p
    r = ee - 1
    while r > es and buf[r] != COLON:
        r -= 1
    if buf[r] == COLON:
        es = r + 1
    return es, ee, True


@njit(inline="always")
def _alloc_row(buf, offs, rows, n, gfp_hash, gfp_off):
    """mm_page_alloc fields into row ``n``; False when one is missing or bad."""
    a0, a1 = offs[0, 0], offs[0, 1]
    b0, b1 = offs[1, 0], offs[1, 1]
    c0, c1 = offs[2, 0], offs[2, 1]
    d0, d1 = offs[3, 0], offs[3, 1]
    g0, g1 = offs[4, 0], offs[4, 1]
    if b0 < 0 or c0 < 0 or d0 < 0 or g0 < 0:
        return False
    pf, ok = _pfn(buf, b0, b1)
    ov, ok2 = _int(buf, c0, c1)
    mv, ok3 = _int(buf, d0, d1)
    if not (ok and ok2 and ok3) or ov < 0 or ov > 10:
        return False
    # failed: page=(nil) or a zero pointer, printed with pfn 0
    failed = False
    if a0 >= 0:
        if buf[a0] == 40:
            failed = True
        elif pf == 0:
            failed = True
            for z in range(a0, a1):
                if buf[z] != 48 and buf[z] != 120:
                    failed = False
    _put(rows, n, EV_ALLOC, -1 if failed else pf, ov, mv, -1, -1, 0)
    gfp_hash[n] = _fnv(buf, g0, g1)
    gfp_off[n, 0] = g0
    gfp_off[n, 1] = g1
    return True


@njit(inline="always")
def _free_row(buf, offs, rows, n, gfp_hash):
    """mm_page_free fields into row ``n``; False when one is missing or bad."""
    b0, b1 = offs[1, 0], offs[1, 1]
    c0, c1 = offs[2, 0], offs[2, 1]
    if b0 < 0 or c0 < 0:
        return False
    pf, ok = _pfn(buf, b0, b1)
    ov, ok2 = _int(buf, c0, c1)
    if not (ok and ok2) or ov < 0 or ov > 10:
        return False
    _put(rows, n, EV_FREE, pf, ov, -1, -1, -1, 0)
    gfp_hash[n] = 0
    return True


@njit(inline="always")
def _extfrag_row(buf, offs, rows, n, gfp_hash):
    """mm_page_alloc_extfrag fields into row ``n``; False when one is missing or bad."""
    b0, b1 = offs[1, 0], offs[1, 1]
    c0, c1 = offs[8, 0], offs[8, 1]
    x0, x1 = offs[5, 0], offs[5, 1]
    y0, y1 = offs[6, 0], offs[6, 1]
    z0, z1 = offs[7, 0], offs[7, 1]
    if b0 < 0 or c0 < 0 or x0 < 0 or y0 < 0 or z0 < 0:
        return False
    pf, ok = _pfn(buf, b0, b1)
    ao, ok1 = _int(buf, c0, c1)
    fov, ok2 = _int(buf, x0, x1)
    fmv, ok3 = _int(buf, y0, y1)
    cov, ok4 = _int(buf, z0, z1)
    amv, ok5 = _int(buf, offs[9, 0], offs[9, 1])
    if not (ok and ok1 and ok2 and ok3 and ok4 and ok5) or ao < 0 or ao > 10:
        return False
    _put(rows, n, EV_EXTFRAG, pf, ao, amv, fov, fmv, cov)
    gfp_hash[n] = 0
    return True


@njit
def parse_text_chunk(buf, t, ev, pfn, order, mt, pid, cpu, fo, fmt, co,
                     ev_hash, ev_off, comm_off, comm_hash, gfp_hash, gfp_off, keys, klen,
                     name_alloc, name_free, name_extfrag):
    """tracefs / trace-cmd / perf script lines.  Per line: the event name's hash
    and offsets (for counting every event), and for the page events the
    columns; gfp flags and comm as hash + offsets for Python to decode once
    per distinct value.  Returns (lines, page rows, first bad line or -1)."""
    rows = (ev, pfn, order, mt, fo, fmt, co)
    cpus_lit = np.frombuffer(b"cpus=", np.uint8)
    cpu_lit = np.frombuffer(b"CPU ", np.uint8)
    offs = np.empty((keys.shape[0], 2), np.int64)
    nbuf = buf.shape[0]
    pos = 0
    line = 0
    n = 0
    while pos < nbuf:
        s = pos
        e = pos
        while e < nbuf and buf[e] != NL:
            e += 1
        pos = e + 1
        q = _line_start(buf, s, e, cpus_lit, cpu_lit)
        if q < 0:
            ev_hash[line] = 0
            line += 1
            continue
        cv, pv, ce, rb, ok = _task_cpu(buf, q, e)
        if not ok:
            return line, n, line
        tns, p, ok = _timestamp(buf, rb + 1, e)
        if not ok:
            return line, n, line
        es, ee, ok = _event_name(buf, p, e)
        if not ok:
            return line, n, line
        h = _fnv(buf, es, ee)
        ev_hash[line] = h
        ev_off[line, 0] = es
        ev_off[line, 1] = ee
        if h == name_alloc or h == name_free or h == name_extfrag:
            _scan_fields(buf, ee + 1, e, keys, klen, offs)
            if h == name_alloc:
                ok = _alloc_row(buf, offs, rows, n, gfp_hash, gfp_off)
            elif h == name_free:
                ok = _free_row(buf, offs, rows, n, gfp_hash)
            else:
                ok = _extfrag_row(buf, offs, rows, n, gfp_hash)
            if not ok:
                return line, n, line
            t[n] = tns
            pid[n] = pv
            cpu[n] = cv
            cend = ce
            while cend > q and buf[cend - 1] == SPACE:
                cend -= 1
            comm_off[n, 0] = q
            comm_off[n, 1] = cend
            comm_hash[n] = _fnv(buf, q, cend)
            n += 1
        line += 1
    return line, n, -1


# --- replay ----------------------------------------------------------------------------------

@njit(inline="always")
def _emit(ops, n, t, kind, order, gfp, h, cpu, content):
    """Write op ``n`` into the op columns ``ops`` = (t, kind, order, gfp, handle, cpu, content)."""
    o_t, o_kind, o_order, o_gfp, o_h, o_cpu, o_content = ops
    o_t[n] = t
    o_kind[n] = kind
    o_order[n] = order
    o_gfp[n] = gfp
    o_h[n] = h
    o_cpu[n] = cpu
    o_content[n] = content
    return n + 1


@njit
def trace_ops(t_ns, ev, pfn, order, gfp, content, owner, cpu, by_reclaim, end_ns, live_h, live_o,
              h_owner, free_h, cursor, o_t, o_kind, o_order, o_gfp, o_h, o_cpu, o_content, o_owner,
              stats):
    """The op stream of a chunk of traced page events (see
    replay_ops.TraceOps), carrying its state from chunk to chunk.

    ``owner``/``content`` are per event (used for allocations); ``live_h`` and
    ``live_o`` map a pfn to the live handle and order it holds; ``h_owner``
    is each handle's owner.  A handle freed by the trace is pushed on
    ``free_h`` and reused by a later allocation (last freed, first reused),
    so the handles in use are bounded by the live allocations, not by the
    trace's length.  ``cursor``: [next new handle, handles on ``free_h``].
    A free made by reclaim (``by_reclaim``: 1 by the kernel's reclaim or
    compaction threads, 2 by a task inside its direct reclaim) is not
    replayed: the model's own kswapd, kcompactd and direct reclaim do that
    work; the pfn is forgotten and the model keeps the folio until it
    reclaims it.  stats: [allocations, failed_in_trace, frees_matched,
    frees_before_trace, frees_order_mismatch, implicit_frees,
    frees_by_reclaim, frees_in_direct_reclaim].  Returns the ops
    written (``o_owner``: each op's owner)."""
    ops = (o_t, o_kind, o_order, o_gfp, o_h, o_cpu, o_content)
    n = 0
    for i in range(t_ns.shape[0]):
        t = t_ns[i] + 1                 # after the prefill at t=0
        if end_ns >= 0 and t > end_ns:
            break
        e = ev[i]
        c = cpu[i]
        if e == EV_ALLOC:
            if cursor[1] > 0:
                cursor[1] -= 1
                h = free_h[cursor[1]]
            else:
                h = cursor[0]
                cursor[0] += 1
            o = order[i]
            h_owner[h] = owner[i]
            o_owner[n] = owner[i]
            n = _emit(ops, n, t, 0, o, gfp[i], h, c, content[i])          # OP_ALLOC
            stats[0] += 1
            p = pfn[i]
            if p < 0:
                stats[1] += 1
                o_owner[n] = owner[i]
                n = _emit(ops, n, t, 1, o, gfp[i], h, c, content[i])      # OP_FREE
                free_h[cursor[1]] = h
                cursor[1] += 1
            else:
                old = live_h[p]
                if old >= 0:
                    stats[5] += 1
                    o_owner[n] = h_owner[old]
                    n = _emit(ops, n, t, 1, live_o[p], 0, old, c, 0)
                    free_h[cursor[1]] = old
                    cursor[1] += 1
                live_h[p] = h
                live_o[p] = o
        elif e == EV_FREE:
            p = pfn[i]
            if p < 0 or p >= live_h.shape[0] or live_h[p] < 0:
                stats[3] += 1
                continue
            if by_reclaim[i]:
                stats[5 + by_reclaim[i]] += 1      # 1: kswapd/kcompactd, 2: direct reclaim
                live_h[p] = -1
                continue
            if live_o[p] != order[i]:
                stats[4] += 1
            stats[2] += 1
            h = live_h[p]
            o_owner[n] = h_owner[h]
            n = _emit(ops, n, t, 1, live_o[p], 0, h, c, 0)
            live_h[p] = -1
            free_h[cursor[1]] = h
            cursor[1] += 1
    return n


@njit
def columns_ok(keep, t, ev, pfn, mt, gfp, pid, cpu, fo, fmt, co, max_pfn, max_cpus, ev_alloc,
               ev_free, ev_extfrag, migrate_types, max_order, gfp_t_max, gfp_movable_mask):
    """One pass over the fast parsers' columns: the checks of
    ``trace._row_problem`` on the kept rows, and the time order of all rows
    (trace._columns_ok says what each check is)."""
    for i in range(1, t.shape[0]):
        if t[i] < t[i - 1]:
            return False
    int32 = 2 ** 31
    for i in range(keep.shape[0]):
        if not keep[i]:
            continue
        e = ev[i]
        if pfn[i] < (-1 if e == ev_alloc else 0) or pfn[i] >= max_pfn:
            return False
        if pid[i] < -int32 or pid[i] >= int32:
            return False
        if cpu[i] < 0 or cpu[i] >= max_cpus:
            return False
        if e != ev_free and (mt[i] < 0 or mt[i] >= migrate_types):
            return False
        if e == ev_alloc:
            g = gfp[i]
            if g < 0 or g > gfp_t_max or g & gfp_movable_mask == gfp_movable_mask:
                return False
        if e == ev_extfrag:
            if fo[i] < 0 or fo[i] > max_order or fmt[i] < 0 or fmt[i] >= migrate_types:
                return False
            if co[i] < 0 or co[i] > 1:
                return False
    return True


@njit
def readahead_marks(t_ns, ev, task, order, pfn, is_ra, last_t, failed, task_slot, slot_task,
                    slot_last, gap_ns, ev_alloc, window_start, head, failed_head, fallback,
                    slot_shift, nr_slots, collisions):
    """Each readahead allocation's window marks (constants.RA_*) and its
    window's slot, for the ``gfp`` column's bits above the gfp_t (0 for
    other events).  ``task``: each event's task number (the same for any
    chunks).  Carried from chunk to chunk: per task ``last_t`` (its last
    readahead allocation), ``failed`` (0; 1 after a large folio the kernel
    failed; 2 once its order-0 fallback began) and ``task_slot``; per slot
    ``slot_task`` and ``slot_last``.  A task's window goes on while its
    readahead allocations come less than ``gap_ns`` apart, and ends at a
    large folio after one the kernel failed (page_cache_ra_order() breaks
    off there: do_page_cache_ra() reads the rest as order-0 folios, the
    fallback).  A window takes its task's last slot, else one no open window
    holds (``collisions[0]`` counts the windows that found none)."""
    marks = np.zeros(t_ns.shape[0], np.int64)
    for i in range(t_ns.shape[0]):
        if ev[i] != ev_alloc or not is_ra[i]:
            continue
        k = task[i]
        t = t_ns[i]
        m = 0
        if last_t[k] < 0 or t - last_t[k] >= gap_ns or (order[i] > 0 and failed[k] > 0):
            m |= window_start
            failed[k] = 0
            s = task_slot[k]
            if s < 0 or (slot_task[s] != k and t - slot_last[s] < gap_ns):
                s = -1
                for j in range(nr_slots):
                    c = (k + j) % nr_slots
                    if slot_task[c] == k or slot_task[c] < 0 or t - slot_last[c] >= gap_ns:
                        s = c
                        break
                if s < 0:
                    s = k % nr_slots
                    collisions[0] += 1
            task_slot[k] = s
            slot_task[s] = k
        s = task_slot[k]
        slot_last[s] = t
        last_t[k] = t
        if order[i] > 0:
            m |= head
            if pfn[i] < 0:
                m |= failed_head
                failed[k] = 1
        elif failed[k] > 0:
            m |= fallback
            failed[k] = 2
        marks[i] = m | (s << slot_shift)
    return marks


@njit
def place_first_come(pfns, orders, taken, keep):
    """The folios to place, in order, each unless it overlaps one placed
    before it (``pfns`` < 0: no room): sets ``keep`` and marks ``taken``."""
    for i in range(pfns.shape[0]):
        m = pfns[i]
        if m < 0:
            continue
        n = 1 << orders[i]
        free = True
        for j in range(m, m + n):
            if taken[j]:
                free = False
                break
        if free:
            for j in range(m, m + n):
                taken[j] = True
            keep[i] = True

