"""Byte-level trace parsers in numba (the fast path of :mod:`defragsim.trace`).

They parse a chunk of decompressed bytes holding whole lines and fill
preallocated columns.  On anything irregular they return the index of the
offending line; the caller then hands the file to the line-by-line Python
reader, which reports the file, line number and text (or skips and counts).
Model-free helpers, so plain ``numba.njit``.
"""
from __future__ import annotations

import numpy as np
from numba import njit

EV_ALLOC, EV_FREE, EV_EXTFRAG = 0, 1, 2
# ev codes of the CSV schema
_A, _F, _B, _Z, _D, _X = ord("A"), ord("F"), ord("B"), ord("Z"), ord("D"), ord("X")
NL, COMMA = 10, 44


@njit(cache=True)
def _int(buf, i, j):
    """Signed decimal in buf[i:j]; (value, ok)."""
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
        v = v * 10 + (c - 48)
        i += 1
    return (-v if neg else v), True


@njit(cache=True)
def _hex(buf, i, j):
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
        v = v * 16 + d
        i += 1
    return v, True


@njit(cache=True)
def parse_csv_chunk(buf, n_lines, t, ev, pfn, order, mt, gfp, pid, cpu, fo, fmt, co, counts):
    """The shared/traces CSV schema, ``buf`` = whole lines (no header).

    Returns (rows written, -1) or (rows, index of the first bad line)."""
    pos = 0
    n = 0
    line = 0
    nbuf = buf.shape[0]
    starts = np.zeros(11, np.int64)
    ends = np.zeros(11, np.int64)
    while pos < nbuf:
        # split one line into fields
        k = 0
        starts[0] = pos
        p = pos
        while p < nbuf and buf[p] != NL:
            if buf[p] == COMMA:
                if k >= 10:
                    return n, line
                ends[k] = p
                k += 1
                starts[k] = p + 1
            p += 1
        ends[k] = p
        nf = k + 1
        nxt = p + 1
        if nf == 1 and ends[0] == starts[0]:      # empty line
            pos = nxt
            line += 1
            continue
        if nf < 6:
            return n, line
        for q in range(nf, 11):                   # trailing empty fields may be left out
            starts[q] = p
            ends[q] = p
        if ends[3] - starts[3] != 1:
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
            pfn[n] = fv
            order[n] = ov
            if code == _F:
                ev[n] = EV_FREE
                mt[n] = -1
                gfp[n] = 0
                fo[n] = -1
                fmt[n] = -1
                co[n] = 0
                counts[1] += 1
            else:
                mv, ok = _int(buf, starts[6], ends[6])
                if not ok:
                    return n, line
                mt[n] = mv
                if code == _A:
                    g, ok = _hex(buf, starts[7], ends[7])
                    if not ok:
                        return n, line
                    ev[n] = EV_ALLOC
                    gfp[n] = g
                    fo[n] = -1
                    fmt[n] = -1
                    co[n] = 0
                    counts[0] += 1
                else:
                    av, oka = _int(buf, starts[8], ends[8])
                    bv, okb = _int(buf, starts[9], ends[9])
                    xv, okc = _int(buf, starts[10], ends[10])
                    if not (oka and okb and okc):
                        return n, line
                    ev[n] = EV_EXTFRAG
                    gfp[n] = 0
                    fo[n] = av
                    fmt[n] = bv
                    co[n] = xv
                    counts[5] += 1
            n += 1
        else:
            return n, line
        pos = nxt
        line += 1
    return n, -1


@njit(cache=True)
def _fnv(buf, i, j):
    h = np.uint64(14695981039346656037)
    for k in range(i, j):
        h = (h ^ np.uint64(buf[k])) * np.uint64(1099511628211)
    return np.int64(h & np.uint64(0x7FFFFFFFFFFFFFFF))


@njit(cache=True)
def _startswith(buf, i, j, lit):
    if j - i < lit.shape[0]:
        return False
    for k in range(lit.shape[0]):
        if buf[i + k] != lit[k]:
            return False
    return True


@njit(cache=True)
def _scan_fields(buf, i, j, keys, klen, offs):
    """One pass over the ``key=value`` tokens of buf[i:j]: offs[k] = (start,
    end) of the value of keys[k] (without the '='), or (-1, -1)."""
    for k in range(offs.shape[0]):
        offs[k, 0] = -1
        offs[k, 1] = -1
    p = i
    while p < j:
        while p < j and buf[p] == 32:
            p += 1
        ts = p
        eq = -1
        while p < j and buf[p] != 32:
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


@njit(cache=True)
def parse_text_chunk(buf, t, ev, pfn, order, mt, pid, cpu, fo, fmt, co,
                     ev_hash, ev_off, comm_off, comm_hash, gfp_hash, gfp_off, keys, klen,
                     name_alloc, name_free, name_extfrag):
    """tracefs / trace-cmd / perf script lines.  Per line: the event name's hash
    and offsets (for counting every event), and for the page events the
    columns; gfp flags and comm as hash + offsets for Python to decode once
    per distinct value.  Returns (lines, page rows, first bad line or -1)."""
    nbuf = buf.shape[0]
    pos = 0
    line = 0
    n = 0
    offs = np.empty((keys.shape[0], 2), np.int64)
    while pos < nbuf:
        e_ = pos
        while e_ < nbuf and buf[e_] != NL:
            e_ += 1
        s = pos
        pos = e_ + 1
        # skip blank, comment and header lines
        q = s
        while q < e_ and (buf[q] == 32 or buf[q] == 9):
            q += 1
        if q >= e_ or buf[q] == 35 or _startswith(buf, q, e_, np.frombuffer(b"cpus=", np.uint8)) \
                or _startswith(buf, q, e_, np.frombuffer(b"CPU ", np.uint8)):
            ev_hash[line] = 0
            line += 1
            continue
        # "[cpu]"
        lb = q
        while lb < e_ and buf[lb] != 91:
            lb += 1
        rb = lb
        while rb < e_ and buf[rb] != 93:
            rb += 1
        if lb >= e_ or rb >= e_:
            return line, n, line
        cv, ok = _int(buf, lb + 1, rb)
        if not ok:
            return line, n, line
        # pid: the digits before '[' (skipping spaces and a "(tgid)" column)
        k = lb - 1
        while k > q and buf[k] == 32:
            k -= 1
        if buf[k] == 41:                        # ')'
            while k > q and buf[k] != 40:
                k -= 1
            k -= 1
            while k > q and buf[k] == 32:
                k -= 1
        pe = k + 1
        while k >= q and 48 <= buf[k] <= 57:
            k -= 1
        ps = k + 1
        pv, ok = _int(buf, ps, pe)
        if not ok:
            return line, n, line
        ce = ps - 1                              # '-' (tracefs) or ' ' (perf) before the pid
        if ce < q:
            return line, n, line
        # timestamp: the first "digits.digits:" after ']'
        p = rb + 1
        ts_s = -1
        while p < e_:
            while p < e_ and buf[p] == 32:
                p += 1
            st_ = p
            while p < e_ and buf[p] != 32:
                p += 1
            if p - st_ >= 3 and buf[p - 1] == 58 and 48 <= buf[st_] <= 57:
                ts_s = st_
                break
        if ts_s < 0:
            return line, n, line
        ts_e = p - 1
        dot = ts_s
        while dot < ts_e and buf[dot] != 46:
            dot += 1
        sec, ok1 = _int(buf, ts_s, dot)
        frac = 0
        nd = 0
        for r in range(dot + 1, ts_e):
            c = buf[r]
            if c < 48 or c > 57:
                return line, n, line
            if nd < 9:
                frac = frac * 10 + (c - 48)
                nd += 1
        while nd < 9:
            frac *= 10
            nd += 1
        if not ok1 or dot >= ts_e:
            return line, n, line
        tns = sec * 1000000000 + frac
        # event name: the token ending with ':' after the timestamp
        while p < e_ and buf[p] == 32:
            p += 1
        es = p
        while p < e_ and not (buf[p] == 58 and (p + 1 >= e_ or buf[p + 1] == 32)):
            p += 1
        if p >= e_ and (p == es):
            return line, n, line
        ee = p
        r = ee - 1
        while r > es and buf[r] != 58:
            r -= 1
        if buf[r] == 58:
            es = r + 1
        fs = p + 1
        ev_hash[line] = _fnv(buf, es, ee)
        ev_off[line, 0] = es
        ev_off[line, 1] = ee
        h = ev_hash[line]
        if h == name_alloc or h == name_free or h == name_extfrag:
            _scan_fields(buf, fs, e_, keys, klen, offs)
            t[n] = tns
            pid[n] = pv
            cpu[n] = cv
            cend = ce
            while cend > q and buf[cend - 1] == 32:
                cend -= 1
            comm_off[n, 0] = q
            comm_off[n, 1] = cend
            comm_hash[n] = _fnv(buf, q, cend)
            if h == name_alloc:
                a0, a1 = offs[0, 0], offs[0, 1]
                b0, b1 = offs[1, 0], offs[1, 1]
                c0, c1 = offs[2, 0], offs[2, 1]
                d0, d1 = offs[3, 0], offs[3, 1]
                g0, g1 = offs[4, 0], offs[4, 1]
                if b0 < 0 or c0 < 0 or d0 < 0 or g0 < 0:
                    return line, n, line
                if b1 - b0 > 2 and buf[b0] == 48 and buf[b0 + 1] == 120:
                    b0 += 2
                pf, ok = _hex(buf, b0, b1)
                ov, ok2 = _int(buf, c0, c1)
                mv, ok3 = _int(buf, d0, d1)
                if not (ok and ok2 and ok3) or ov < 0 or ov > 10:
                    return line, n, line
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
                ev[n] = EV_ALLOC
                pfn[n] = -1 if failed else pf
                order[n] = ov
                mt[n] = mv
                gfp_hash[n] = _fnv(buf, g0, g1)
                gfp_off[n, 0] = g0
                gfp_off[n, 1] = g1
                fo[n] = -1
                fmt[n] = -1
                co[n] = 0
            elif h == name_free:
                b0, b1 = offs[1, 0], offs[1, 1]
                c0, c1 = offs[2, 0], offs[2, 1]
                if b0 < 0 or c0 < 0:
                    return line, n, line
                if b1 - b0 > 2 and buf[b0] == 48 and buf[b0 + 1] == 120:
                    b0 += 2
                pf, ok = _hex(buf, b0, b1)
                ov, ok2 = _int(buf, c0, c1)
                if not (ok and ok2) or ov < 0 or ov > 10:
                    return line, n, line
                ev[n] = EV_FREE
                pfn[n] = pf
                order[n] = ov
                mt[n] = -1
                gfp_hash[n] = 0
                fo[n] = -1
                fmt[n] = -1
                co[n] = 0
            else:
                b0, b1 = offs[1, 0], offs[1, 1]
                c0, c1 = offs[8, 0], offs[8, 1]
                x0, x1 = offs[5, 0], offs[5, 1]
                y0, y1 = offs[6, 0], offs[6, 1]
                z0, z1 = offs[7, 0], offs[7, 1]
                if b0 < 0 or c0 < 0 or x0 < 0 or y0 < 0 or z0 < 0:
                    return line, n, line
                if b1 - b0 > 2 and buf[b0] == 48 and buf[b0 + 1] == 120:
                    b0 += 2
                pf, ok = _hex(buf, b0, b1)
                ao, ok1 = _int(buf, c0, c1)
                fov, ok2 = _int(buf, x0, x1)
                fmv, ok3 = _int(buf, y0, y1)
                cov, ok4 = _int(buf, z0, z1)
                a2, a3 = offs[9, 0], offs[9, 1]
                amv, ok5 = _int(buf, a2, a3)
                if not (ok and ok1 and ok2 and ok3 and ok4 and ok5) or ao < 0 or ao > 10:
                    return line, n, line
                ev[n] = EV_EXTFRAG
                pfn[n] = pf
                order[n] = ao
                mt[n] = amv
                gfp_hash[n] = 0
                fo[n] = fov
                fmt[n] = fmv
                co[n] = cov
            n += 1
        line += 1
    return line, n, -1


@njit(cache=True, inline="always")
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


@njit(cache=True)
def trace_ops(t_ns, ev, pfn, order, gfp, content, owner, cpu, end_ns, h0, live_h, live_o,
              o_t, o_kind, o_order, o_gfp, o_h, o_cpu, o_content, h_owner, stats):
    """The op stream of the traced page events (see replay.trace_workload).

    ``owner``/``content`` are per event (used for allocations); ``live_h`` and
    ``live_o`` map a pfn to the live handle and order it holds.  stats:
    [allocations, failed_in_trace, frees_matched, frees_before_trace,
    frees_order_mismatch, implicit_frees].  Returns (ops written, handles used)."""
    ops = (o_t, o_kind, o_order, o_gfp, o_h, o_cpu, o_content)
    n = 0
    h = h0
    for i in range(t_ns.shape[0]):
        t = t_ns[i] + 1                 # after the prefill at t=0
        if end_ns >= 0 and t > end_ns:
            break
        e = ev[i]
        c = cpu[i]
        if e == EV_ALLOC:
            o = order[i]
            h_owner[h] = owner[i]
            n = _emit(ops, n, t, 0, o, gfp[i], h, c, content[i])          # OP_ALLOC
            stats[0] += 1
            p = pfn[i]
            if p < 0:
                stats[1] += 1
                n = _emit(ops, n, t, 1, o, gfp[i], h, c, content[i])      # OP_FREE
            else:
                if live_h[p] >= 0:
                    stats[5] += 1
                    n = _emit(ops, n, t, 1, live_o[p], 0, live_h[p], c, 0)
                live_h[p] = h
                live_o[p] = o
            h += 1
        elif e == EV_FREE:
            p = pfn[i]
            if p < 0 or p >= live_h.shape[0] or live_h[p] < 0:
                stats[3] += 1
                continue
            if live_o[p] != order[i]:
                stats[4] += 1
            stats[2] += 1
            n = _emit(ops, n, t, 1, live_o[p], 0, live_h[p], c, 0)
            live_h[p] = -1
    return n, h
