#!/usr/bin/env python3
"""JSON and markdown for bench/: the figures a group records, its fragment, and the results files.

  report.py hyperfine FIGS TITLE JSON BASE [ROW=ROWBASE...]
                                                   markdown table of a hyperfine run; figures to FIGS
  report.py merge OUT JSON...                       one hyperfine JSON of several rounds' runs
  report.py fragment GROUP FIGS PARAMS ABOUT       a group's JSON fragment
  report.py assemble OUT RUNFILE                   OUT.md, OUT.json and OUT-startup.png from the run

RUNFILE (written by bench/run.sh) holds one JSON object per line: the run's header first, then one
per group with its load before, wall time, exit status and the paths of its fragment and markdown.
Only the standard library: it runs wherever python3 does.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

# The groups whose rows the start-up chart shows, in this order.
CHART_GROUPS = ("oci-start", "engine-start")


def number(s):
    try:
        v = float(s)
    except ValueError:
        return s
    return int(v) if v.is_integer() and "." not in s else v


def cmd_hyperfine(figs, title, path, base, *overrides):
    """Each row's mean in ms with its spread, and its ratio to its base row's mean."""
    rows = json.load(open(path))["results"]
    by_name = {r["command"]: r for r in rows}
    bases = dict(o.split("=", 1) for o in overrides)
    if base not in by_name:
        sys.exit(f"hyperfine {title}: no row named {base!r} (rows: {list(by_name)})")
    ms = lambda s: round(s * 1000, 2)
    out = [f"| {title} | mean ms | ± σ ms | min ms | median ms | runs | relative to |", "|---|---|---|---|---|---|---|"]
    with open(figs, "a") as fh:
        for r in rows:
            b = by_name[bases.get(r["command"], base)]
            ratio = r["mean"] / b["mean"]
            rel = "—" if b is r else f"{ratio:.2f}× {b['command']}"
            out.append(f"| {r['command']} | {ms(r['mean'])} | {ms(r['stddev'] or 0)} | {ms(r['min'])} | "
                       f"{ms(r['median'])} | {len(r['times'])} | {rel} |")
            fh.write(json.dumps({
                "name": r["command"], "value": ms(r["mean"]), "unit": "ms", "section": title,
                "stddev": ms(r["stddev"] or 0), "min": ms(r["min"]), "median": ms(r["median"]),
                "max": ms(r["max"]), "runs": len(r["times"]),
                "base": b["command"], "ratio": round(ratio, 3)}) + "\n")
    print("\n".join(out))


def cmd_merge(out, *paths):
    """Rows of the same command across rounds become one row with all their runs."""
    import statistics
    merged = {}
    for path in paths:
        for r in json.load(open(path))["results"]:
            merged.setdefault(r["command"], []).extend(r["times"])
    rows = []
    for command, times in merged.items():
        rows.append({"command": command, "times": times, "mean": statistics.fmean(times),
                     "stddev": statistics.stdev(times) if len(times) > 1 else 0,
                     "median": statistics.median(times), "min": min(times), "max": max(times)})
    with open(out, "w") as fh:
        json.dump({"results": rows}, fh)


def read_lines(path):
    """JSON lines, or NAME<TAB>VALUE<TAB>UNIT<TAB>NOTE lines as bench/lib.sh's fig writes them."""
    out = []
    with open(path) as fh:
        for l in fh:
            l = l.rstrip("\n")
            if l.startswith("{"):
                out.append(json.loads(l))
            elif l.strip():
                name, value, unit, note = (l.split("\t") + ["", "", ""])[:4]
                f = {"name": name, "value": number(value), "unit": unit}
                if note:
                    f["note"] = note
                out.append(f)
    return out


def cmd_fragment(group, figs, params, about):
    print(json.dumps({
        "group": group,
        "params": {p["name"]: p["value"] for p in read_lines(params)},
        "about": open(about).read().strip(),
        "figures": read_lines(figs),
    }, indent=1))


def chart(groups, out_png, header):
    """Bars: each peer's start-up mean over its base row's (a pcr row), oci-start then engine-start."""
    bars = []
    for g in groups:
        if g["group"] not in CHART_GROUPS:
            continue
        for f in g.get("figures", []):
            # pcr's own rows (the base, and pcr behind crun's wrapper) are the yardstick, not bars
            if "ratio" in f and not f["name"].startswith("pcr"):
                bars.append((f["name"], f["ratio"], CHART_GROUPS.index(g["group"]) + 1))
    if not bars or not shutil.which("gnuplot"):
        return False
    with tempfile.TemporaryDirectory(prefix="pcr-bench-chart.") as d:
        data = os.path.join(d, "data")
        with open(data, "w") as fh:
            for label, ratio, color in bars:
                fh.write('"%s" %f %d\n' % (label.replace('"', "'"), ratio, color))
        script = f"""
set terminal pngcairo size 1400,800 font ",10" noenhanced
set output '{out_png}'
set title "Start-up time relative to pcr: each peer's mean over the mean of pcr's row with the same wrapper (below 1: faster than pcr)\\n{header}"
set ylabel "mean / pcr's mean"
set yrange [0:{max(1.0, max(b[1] for b in bars)) * 1.15}]
set grid ytics
set style fill solid 0.8 border -1
set boxwidth 0.7
set xtics rotate by 30 right nomirror font ",9"
set bmargin 14
set lmargin 28
set xrange [-0.6:{len(bars) - 0.4}]
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5
set key top left
plot '{data}' using 0:2:3:xtic(1) with boxes lc variable notitle, \\
     '' using 0:2:(sprintf("%.2f", $2)) with labels offset 0,0.8 notitle, \\
     NaN with boxes lc 1 title "oci-start: vs pcr-oci run", \\
     NaN with boxes lc 2 title "engine-start: vs pcr run --rm"
"""
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
        if r.returncode != 0:
            print(f"report: gnuplot: {r.stderr.strip()}", file=sys.stderr)
            return False
    return True


def cmd_assemble(out, runfile):
    lines = read_lines(runfile)
    head, runs = lines[0], lines[1:]
    groups = []
    for r in runs:
        g = {"group": r["group"]}
        try:
            g.update(json.load(open(r["fragment"])))
        except (OSError, ValueError):
            g["figures"] = []
        g.update({k: r[k] for k in ("load_before", "started", "wall_s", "exit_status")})
        g["markdown"] = open(r["markdown"]).read().strip() if os.path.exists(r["markdown"]) else ""
        groups.append(g)
    result = dict(head)
    result["groups"] = groups
    with open(out + ".json", "w") as fh:
        json.dump({k: v for k, v in result.items()}, fh, indent=1)
        fh.write("\n")

    m, v = head["machine"], head["versions"]
    png = out + "-startup.png"
    header = f"{head['date']}, {m['cores']} cores, kernel {m['kernel']}, cgroup {m['cgroup']}"
    have_chart = chart(groups, png, header)
    md = [f"# pcr benchmarks, {head['date']}", "",
          f"`{head['command']}`, {head['wall_s']:.0f} s wall in all. Ratios are what count: this machine is "
          "shared and noisy, so absolute times move between runs; every comparison below was taken in one "
          "run, the peers one right after the other.", ""]
    if have_chart:
        md += [f"![start-up time relative to pcr]({os.path.basename(png)})", ""]
    md += ["## Machine", "",
           "| | |", "|---|---|",
           f"| CPU | {m['cores']} cores, {m['cpu']} |",
           f"| memory | {m['memory']} |",
           f"| kernel | {m['kernel']} ({m['os']}) |",
           f"| cgroup mode | {m['cgroup']} |"]
    md += [f"| {k} | {val} |" for k, val in v.items()]
    md += ["", "| group | load before (1, 5, 15 min) | wall s | exit status |", "|---|---|---|---|"]
    md += [f"| {g['group']} | {g['load_before']} | {g['wall_s']:.0f} | {g['exit_status']} |" for g in groups]
    md += ["", "## What the figures mean and how they were taken", ""]
    for g in groups:
        if g.get("about"):
            md += [f"**{g['group']}**: " + g["about"], ""]
    for g in groups:
        md += [f"## {g['group']}", ""]
        if g["exit_status"] != 0:
            md += [f"**The group failed (exit status {g['exit_status']}); what it printed before is below.**", ""]
        md += [g["markdown"] or "(no output)", ""]
    with open(out + ".md", "w") as fh:
        fh.write("\n".join(md).rstrip() + "\n")
    print(out + ".md")
    print(out + ".json")
    if have_chart:
        print(png)


def main():
    cmds = {"hyperfine": cmd_hyperfine, "merge": cmd_merge, "fragment": cmd_fragment, "assemble": cmd_assemble}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
