#!/usr/bin/env python3
"""test/bench-report.py: the table and the plot of a test/bench run.

Reads the legs test/bench wrote (legs.tsv: one line per leg), takes each
ratio within one round (a leg with wt_cache against the leg without it run
next to it) and quotes the median over rounds, prints a markdown table with
the targets beside the measured figures (PASS/FAIL; a miss is reported,
not an error), writes it to summary.md, and draws the plot with gnuplot.
"""
import argparse
import os
import statistics
import subprocess
import sys
from collections import defaultdict

ALTERNATIVES = ("plpy", "outbox")
# wt_cache with its default (synchronous) push: with every setting at its
# default (the unix socket, found by 'auto'), and over TCP only: held to
# the targets
WTC_DEFAULTS = ("wtc", "wtc_tcp")
TPCB_TITLES = {"tpcb_on": "synchronous_commit on", "tpcb_off": "synchronous_commit off"}


def short_label(label):
    """A variant's label on a few short lines, for the plot's x axis."""
    return (label.replace(" (no read-your-writes)", "").replace(", ", "\\n")
            .replace(" + ", "\\n+ ").replace("PL/pgSQL ", "PL/pgSQL\\n")
            .replace(" after ", "\\nafter "))


def read_legs(path):
    legs = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            if not line.strip():
                continue
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            row["round"] = int(row["round"])
            row["value"] = float(row["value"])
            legs.append(row)
    return legs


def fmt(x, digits=2):
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}f}"


class Report:
    def __init__(self, legs, meta):
        self.legs = legs
        self.meta = meta
        self.labels = dict(kv.split("=", 1) for kv in meta.get("labels", "").split(";") if "=" in kv)
        # values[case][variant][round] = value; failed[case][variant] = bool
        self.values = defaultdict(lambda: defaultdict(dict))
        self.notes = defaultdict(lambda: defaultdict(dict))
        self.failed = defaultdict(lambda: defaultdict(bool))
        for leg in legs:
            self.values[leg["case"]][leg["variant"]][leg["round"]] = leg["value"]
            self.notes[leg["case"]][leg["variant"]][leg["round"]] = leg.get("note", "")
            if leg["check"].startswith("FAIL"):
                self.failed[leg["case"]][leg["variant"]] = True
        self.rows = []      # markdown rows
        self.plot = {}      # what the plot shows

    def label(self, v):
        return self.labels.get(v, v)

    def per_round(self, case, variant, base="base", op="ratio"):
        """The variant against base, round by round (rounds where both ran)."""
        a = self.values[case][variant]
        b = self.values[case][base]
        out = []
        for r in sorted(set(a) & set(b)):
            if op == "ratio":
                out.append(a[r] / b[r] if b[r] else float("nan"))
            else:
                out.append(a[r] - b[r])
        return out

    def median(self, case, variant):
        vals = list(self.values[case][variant].values())
        return statistics.median(vals) if vals else None

    def verdict(self, ok, case, *variants):
        if any(self.failed[case][v] for v in variants):
            return "CHECK FAILED"
        return "PASS" if ok else "FAIL"

    def add(self, *cells):
        self.rows.append(cells)

    def tpcb(self):
        for case, target in (("tpcb_on", 0.95), ("tpcb_off", 0.90)):
            if "base" not in self.values[case]:
                continue
            base_tps = self.median(case, "base")
            wtc_ratio = None
            if "wtc" in self.values[case]:
                wtc_ratio = statistics.median(self.per_round(case, "wtc"))
            for v in self.values[case]:
                if v == "base":
                    continue
                rounds = self.per_round(case, v)
                if not rounds:
                    continue
                m = statistics.median(rounds)
                if v in WTC_DEFAULTS:
                    tgt, ok = f">= {target}", m >= target
                elif v == "wtc_async":
                    # not the default (no read-your-writes): reported apart
                    tgt, ok = ">= 0.98 (async target)", m >= 0.98
                elif v in ALTERNATIVES and wtc_ratio is not None:
                    tgt, ok = f"below wt_cache ({fmt(wtc_ratio)})", wtc_ratio > m
                    self.failed[case]["wtc_vs"] = self.failed[case]["wtc"]
                else:
                    tgt, ok = None, None
                self.add(f"TPC-B tps, {TPCB_TITLES[case]}: {self.label(v)} / no trigger",
                         f"{fmt(base_tps)} tps", f"{fmt(self.median(case, v))} tps",
                         f"**{fmt(m)}**", " ".join(fmt(x) for x in rounds),
                         tgt or "-",
                         "-" if ok is None else self.verdict(ok, case, v, "base"))
                self.plot.setdefault("tps", []).append(
                    (f"{short_label(self.label(v))}\\nsync {case[-3:].strip('_')}", m, rounds,
                     target if v in WTC_DEFAULTS else (wtc_ratio if v in ALTERNATIVES else None)))
            # wt_cache against the reference of one more round trip per
            # transaction (base_rt), round by round
            if "base_rt" not in self.values[case]:
                continue
            for v in WTC_DEFAULTS:
                rounds = self.per_round(case, v, base="base_rt") if v in self.values[case] else []
                if rounds:
                    self.add(f"TPC-B tps, {TPCB_TITLES[case]}: {self.label(v)} / {self.label('base_rt')}",
                             f"{fmt(self.median(case, 'base_rt'))} tps", f"{fmt(self.median(case, v))} tps",
                             f"**{fmt(statistics.median(rounds))}**", " ".join(fmt(x) for x in rounds),
                             "-", "CHECK FAILED" if self.failed[case][v] else "-")

    def note_values(self, case, variant, key):
        """A number from the legs' notes (key=value), round by round."""
        out = {}
        for r, note in self.notes[case][variant].items():
            for kv in note.split():
                if kv.startswith(key + "="):
                    out[r] = float(kv.split("=", 1)[1])
        return out

    def cpu(self):
        """Where TPC-B's CPU goes: the whole machine's busy time per
        transaction (every process: /proc/stat) with and without wt_cache,
        and Valkey's own share of what wt_cache adds.  "Valkey alone
        allows": the highest tps ratio the cores leave room for if Valkey's
        CPU time were all that wt_cache cost, min(1, cores / (busy without +
        Valkey) / tps without)."""
        cores = int(self.meta.get("cores", 0) or 0)
        for case in TPCB_TITLES:
            busy = self.note_values(case, "base", "busy_us_per_xact")
            tps = self.median(case, "base")
            if not busy or not cores or not tps:
                continue
            b = statistics.median(busy.values())
            for v in self.values[case]:
                if v not in WTC_DEFAULTS + ("wtc_async",):
                    continue
                vk = self.note_values(case, v, "valkey_cpu_us_per_xact")
                wb = self.note_values(case, v, "busy_us_per_xact")
                if not vk or not wb:
                    continue
                m = statistics.median(vk.values())
                w = statistics.median(wb.values())
                allows = min(1.0, cores * 1e6 / (b + m) / tps)
                self.add(f"TPC-B, {TPCB_TITLES[case]}: CPU per transaction, {self.label(v)}",
                         f"{b:.0f} us busy ({b * tps / (cores * 1e6):.0%} of {cores} cores)",
                         f"{w:.0f} us busy: {w - b:+.0f} us, of which Valkey {m:.1f} us",
                         f"Valkey alone allows {allows:.2f}",
                         " ".join(f"{vk[r]:.1f}" for r in sorted(vk)), "-", "-")
            # How much of each leg the hypervisor gave to others: a round
            # whose two legs lost very different shares compares badly
            sb = self.note_values(case, "base", "steal_pct")
            sw = self.note_values(case, "wtc", "steal_pct")
            if sb and sw:
                self.add(f"TPC-B, {TPCB_TITLES[case]}: hypervisor steal per leg, no trigger / wt_cache",
                         f"median {statistics.median(sb.values()):.1f} %",
                         f"median {statistics.median(sw.values()):.1f} %", "-",
                         " ".join(f"{sb[r]:.0f}/{sw[r]:.0f}" for r in sorted(sb) if r in sw), "-", "-")

    def latency(self):
        rtts = list(self.values["rtt"]["ping"].values())
        if not rtts:
            return None
        rtt = statistics.median(rtts)
        self.add("Valkey round trip (median PING of a C client, hiredis; median of rounds)",
                 "-", f"{rtt:.1f} us", "-", " ".join(f"{x:.1f}" for x in rtts), "-", "-")
        for case, rows, title in (("lat_row", 1, "single-row UPDATE"),
                                  ("lat_tpcb", 3, "TPC-B transaction (3 attached rows)")):
            target = 1.5 * rtt + 2 * rows
            for v in WTC_DEFAULTS:
                via = self.label(v)[len(self.label("wtc")):]    # ", TCP only"
                # the legs' mean latency, then their median transaction's
                # (pgbench -l); the plot shows the mean
                for c, what in ((case, ""), (case + "_p50", ", median transaction")):
                    if v not in self.values[c] or "base" not in self.values[c]:
                        continue
                    added = self.per_round(c, v, op="diff")
                    m = statistics.median(added)
                    self.add(f"added commit latency, 1 client{via}: {title}{what}",
                             f"{fmt(self.median(c, 'base'))} us", f"{fmt(self.median(c, v))} us",
                             f"**{m:+.1f} us = {m / rtt:+.2f} RTT**", " ".join(f"{x:+.0f}" for x in added),
                             f"<= 1.5 RTT + {2 * rows} us = {target:.1f} us",
                             self.verdict(m <= target, c, v, "base"))
                    if c == case:
                        self.plot.setdefault("lat", []).append(
                            (title.split(" (")[0].replace(" ", "\\n", 1) + via.replace(", ", "\\n"), m, added, target))
        self.plot["rtt"] = rtt
        return rtt

    def bulk(self):
        self.plot["bulk"] = []
        for v in self.values["bulk"]:
            if v == "base":
                continue
            rounds = self.per_round("bulk", v)
            m = statistics.median(rounds)
            verdict = self.verdict(m <= 1.5, "bulk", v, "base")
            self.add(f"one UPDATE of {int(self.meta.get('bulk_rows', 100000)):,} rows: "
                     f"time {self.label(v)} / no trigger",
                     f"{fmt(self.median('bulk', 'base'))} ms", f"{fmt(self.median('bulk', v))} ms",
                     f"**{m:.2f}x**", " ".join(f"{x:.2f}" for x in rounds), "<= 1.5x", verdict)
            # Valkey's own CPU time in the leg (the push at COMMIT), against
            # what the target leaves for wt_cache in all
            vk = self.note_values("bulk", v, "valkey_cpu_ms") if v == "wtc" else {}
            if vk:
                room = 0.5 * self.median("bulk", "base")
                vm = statistics.median(vk.values())
                self.add(f"that UPDATE: Valkey's CPU time, {self.label(v)}",
                         f"the target leaves {room:.0f} ms (0.5x) for wt_cache",
                         f"Valkey {vm:.0f} ms", f"{vm / room:.2f} of that",
                         " ".join(f"{vk[r]:.0f}" for r in sorted(vk)), "-", "-")
            lbl = self.label(v).replace(", ", "\\n").replace("command_timeout", "timeout")
            if verdict == "CHECK FAILED":
                lbl += "\\n(check failed)"
            self.plot["bulk"].append((lbl, m, rounds, 1.5))

    def memory(self):
        if "wtc" not in self.values["mem_hwm"]:
            return
        big = f"{int(self.meta.get('big_rows', 1000000)):,}-row transaction"
        for case, what in (("mem_ctx", "memory contexts before COMMIT"),
                           ("mem_hwm", "peak RSS growth (VmHWM)"),
                           ("mem_shm", "of which shared memory at the end (RssShmem growth)")):
            b, w = self.median(case, "base"), self.median(case, "wtc")
            note = self.notes[case]["wtc"].get(1, "")
            self.add(f"{big}: {what}", f"{b:.0f} MB", f"{w:.0f} MB",
                     f"{w - b:+.0f} MB", note, "-",
                     "CHECK FAILED" if self.failed[case]["wtc"] else "-")

    def throughput(self):
        big = f"{int(self.meta.get('big_rows', 1000000)):,}"
        for case, what in (("bigdrain", f"worker drain of that transaction's {big} queued keys"),
                           ("drain", "retry-queue drain (keys queued while Valkey was down)"),
                           ("resync", "wt_cache.resync()")):
            vals = list(self.values[case]["wtc"].values())
            if not vals:
                continue
            unit = next(l["unit"] for l in self.legs if l["case"] == case)
            n = len(vals)
            self.add(f"{what}, median of {n}", "-", f"{fmt(statistics.median(vals))} {unit}", "-",
                     " ".join(fmt(x) for x in vals), "-",
                     "CHECK FAILED" if self.failed[case]["wtc"] else "-")

    def markdown(self):
        out = ["| case | without wt_cache | with | ratio or difference (median) | per round | target | result |",
               "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in self.rows:
            out.append("| " + " | ".join(str(c) for c in r) + " |")
        return "\n".join(out)

    def gnuplot(self, outdir, png):
        """Three panels: TPC-B ratios, added latency, bulk UPDATE ratio."""
        tps = self.plot.get("tps", [])
        lat = self.plot.get("lat", [])
        bulk = self.plot.get("bulk")
        panels = sum(1 for p in (tps, lat, bulk) if p)
        if not panels:
            return False
        files = {}
        def write(name, lines):
            path = os.path.join(outdir, name)
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            files[name] = path
        # bars: x median target label; points: x value
        write("plot-tps.dat", [f'{i} {m:.4f} {t if t is not None else "NaN"} "{lbl}"'
                                for i, (lbl, m, _, t) in enumerate(tps)])
        write("plot-tps-rounds.dat", [f"{i} {x:.4f}" for i, (_, _, rs, _) in enumerate(tps) for x in rs] or ["0 NaN"])
        write("plot-lat.dat", [f'{i} {m:.2f} {t:.2f} "{lbl}"' for i, (lbl, m, _, t) in enumerate(lat)])
        write("plot-lat-rounds.dat", [f"{i} {x:.2f}" for i, (_, _, rs, _) in enumerate(lat) for x in rs] or ["0 NaN"])
        if bulk:
            write("plot-bulk.dat", [f'{i} {m:.4f} {t} "{lbl}"' for i, (lbl, m, _, t) in enumerate(bulk)])
            write("plot-bulk-rounds.dat", [f"{i} {x:.4f}" for i, (_, _, rs, _) in enumerate(bulk) for x in rs])
        m = self.meta
        title = (f"wt_cache bench ({m.get('mode')}, one run, {m.get('rounds')} rounds, "
                 f"shared {m.get('cores')}-core machine, load {m.get('load_start', '').split()[0]}"
                 f" -> {m.get('load_end', '').split()[0]}, steal {m.get('steal', '?')} %)")
        widths = {"tps": 0.56, "lat": 0.25, "bulk": 0.19}
        g = [
            f'set terminal pngcairo noenhanced size 1900,560 font "DejaVu Sans,10"',
            f'set output "{png}"',
            f'set multiplot title "{title}"',
            'set style fill solid 0.6 border -1',
            'set boxwidth 0.6',
            'set grid ytics',
            'set key off',
            'set bmargin 7',
        ]
        x = 0.0
        def panel(name):
            nonlocal x
            w = widths[name] / sum(widths[k] for k, p in (("tps", tps), ("lat", lat), ("bulk", bulk)) if p)
            g.append(f"set size {w:.3f},0.92")
            g.append(f"set origin {x:.3f},0.0")
            x += w
        if tps:
            panel("tps")
            g += [
                'set title "TPC-B tps relative to no trigger\\n(bars: median; dots: rounds; dashes: target)"',
                f'set xrange [-0.6:{len(tps) - 0.4}]',
                f'set yrange [0:{max([1.15] + [x * 1.05 for _, _, rs, _ in tps for x in rs]):.2f}]',
                'set ytics 0.1',
                f'plot "{files["plot-tps.dat"]}" using 1:2:xtic(4) with boxes lc rgb "#4878a8", '
                f'"" using 1:3:(0.35) with xerrorbars pt -1 lc rgb "#c03030" lw 2, '
                f'"{files["plot-tps-rounds.dat"]}" using 1:2 with points pt 7 ps 0.6 lc rgb "black"',
            ]
        if lat:
            panel("lat")
            rtt = self.plot.get("rtt", 0)
            ymax = max([t for _, _, _, t in lat] + [x for _, _, rs, _ in lat for x in rs] + [rtt]) * 1.25
            g += [
                f'set title "added commit latency, 1 client (us)\\n(dashes: 1.5 RTT + 2 us/row; line: 1 RTT = {rtt:.0f} us)"',
                f'set xrange [-0.6:{len(lat) - 0.4}]',
                f'set yrange [{min([0] + [x for _, _, rs, _ in lat for x in rs]) * 1.25:.0f}:{ymax:.0f}]',
                'set ytics auto',
                f'plot "{files["plot-lat.dat"]}" using 1:2:xtic(4) with boxes lc rgb "#4878a8", '
                f'"" using 1:3:(0.35) with xerrorbars pt -1 lc rgb "#c03030" lw 2, '
                f'"{files["plot-lat-rounds.dat"]}" using 1:2 with points pt 7 ps 0.6 lc rgb "black", '
                f'{rtt:.2f} with lines dt 2 lc rgb "#808080"',
            ]
        if bulk:
            panel("bulk")
            ymax = max([1.6] + [x for _, _, rs, _ in bulk for x in rs]) * 1.1
            g += [
                f'set title "{int(self.meta.get("bulk_rows", 100000)):,}-row UPDATE, time relative to\\nno trigger (dash: target 1.5x)"',
                f'set xrange [-0.6:{len(bulk) - 0.4}]',
                f'set yrange [0:{ymax:.2f}]',
                'set ytics auto',
                f'plot "{files["plot-bulk.dat"]}" using 1:2:xtic(4) with boxes lc rgb "#4878a8", '
                f'"" using 1:3:(0.35) with xerrorbars pt -1 lc rgb "#c03030" lw 2, '
                f'"{files["plot-bulk-rounds.dat"]}" using 1:2 with points pt 7 ps 0.6 lc rgb "black"',
            ]
        g.append("unset multiplot")
        gp = os.path.join(outdir, "plot.gp")
        with open(gp, "w") as f:
            f.write("\n".join(g) + "\n")
        r = subprocess.run(["gnuplot", gp], capture_output=True, text=True)
        if r.returncode != 0:
            sys.stderr.write(f"bench: gnuplot failed:\n{r.stderr}")
            return False
        return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--plot", required=True)
    ap.add_argument("--meta", action="append", default=[])
    a = ap.parse_args()
    meta = dict(kv.split("=", 1) for kv in a.meta)
    rep = Report(read_legs(a.raw), meta)
    rep.tpcb()
    rep.cpu()
    rep.latency()
    rep.bulk()
    rep.memory()
    rep.throughput()
    lines = [
        f"Measured by `./test/bench{'' if meta.get('mode') == 'default' else ' ' + meta.get('mode', '')}`"
        f" in one run: {meta.get('rounds')} rounds, TPC-B legs of {meta.get('duration')} s "
        f"(scale {meta.get('scale')}, {meta.get('clients')} clients), latency legs of "
        f"{meta.get('lat_duration')} s; load average {meta.get('load_start')} at start, "
        f"{meta.get('load_end')} at end ({meta.get('cores')} cores, shared with other work); "
        f"the hypervisor's steal {meta.get('steal', '?')} % of the cores' time; "
        f"run time {int(meta.get('elapsed', 0)) // 60} min {int(meta.get('elapsed', 0)) % 60} s.",
        "",
        rep.markdown(),
        "",
        "Neither alternative gives what wt_cache gives: only committed data in the cache, "
        "and read-your-writes. The PL/Python trigger writes to Valkey before COMMIT "
        "(rolled-back transactions stay in the cache, readers see rows before they commit, "
        "and a failed Valkey call fails the write); the outbox only queues rows in a table: "
        "a relay (not run here) must copy them to Valkey later, so COMMIT returns before "
        "the cache holds the change (no read-your-writes).",
    ]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(text + "\n")
    os.makedirs(os.path.dirname(a.plot) or ".", exist_ok=True)
    if rep.gnuplot(a.out, a.plot):
        print(f"\nplot: {a.plot}")


if __name__ == "__main__":
    main()
