"""The benchmark report: `benchmarks.json` (everything measured), `benchmarks.md` (a table per workload, the
targets of issue 4 with pass/miss, context sizes, the profile) and `benchmarks.png` (throughput and p50 per
system) in the output directory.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

SYSTEM_LABELS = {
    "direct": "direct (floor)",
    "bare": "bare MCP SDK",
    "policyarc": "PolicyArc",
    "policyarc-2w": "PolicyArc, 2 workers",
    "mcp-atlassian": "mcp-atlassian 0.23.1",
}
COLOURS = {
    "direct": "#9e9e9e",
    "bare": "#64b5f6",
    "policyarc": "#2e7d32",
    "policyarc-2w": "#81c784",
    "mcp-atlassian": "#e65100",
}


class Results:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def find(self, system: str, workload: str, latency: int = 0, users: int = 1, c: int = 16) -> dict[str, Any] | None:
        """The last row for that cell (the scaling cell re-measures one worker beside two)."""
        row: dict[str, Any]
        for row in reversed(self.rows):
            if (row["system"], row["workload"], row["latency_ms"], row["users"], row["concurrency"]) == (
                system,
                workload,
                latency,
                users,
                c,
            ):
                return row
        return None


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def targets(doc: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, what was measured, passed?) for each target of issue 4; None when the run lacks the cell."""
    r = Results(doc["results"])
    out: list[tuple[str, str, bool | None]] = []

    def check(name: str, measure: Callable[[], tuple[str, bool] | None]) -> None:
        try:
            found = measure()
        except (TypeError, KeyError, ZeroDivisionError):
            found = None
        out.append((name, found[0], found[1]) if found else (name, "not measured in this run", None))

    def p50_vs_direct() -> tuple[str, bool] | None:
        gw, direct = r.find("policyarc", "get_issue", c=1), r.find("direct", "get_issue", c=1)
        if not gw or not direct:
            return None
        added = gw["p50_ms"] - direct["p50_ms"]
        return f"{gw['p50_ms']:.2f} ms vs direct {direct['p50_ms']:.2f} ms: +{added:.2f} ms", added <= 3

    def throughput_vs_mcp_atlassian() -> tuple[str, bool] | None:
        gw, other = r.find("policyarc", "get_issue"), r.find("mcp-atlassian", "get_issue")
        if not gw or not other or not other["rps"]:
            return None
        ratio = gw["rps"] / other["rps"]
        return f"{gw['rps']:.0f}/s vs {other['rps']:.0f}/s: {ratio:.1f}x", ratio >= 5

    def cpu_per_call() -> tuple[str, bool] | None:
        gw = r.find("policyarc", "get_issue")
        return (f"{gw['server_cpu_ms_per_call']:.2f} ms", gw["server_cpu_ms_per_call"] <= 3) if gw else None

    def p99() -> tuple[str, bool] | None:
        gw = r.find("policyarc", "get_issue")
        return (f"{gw['p99_ms']:.1f} ms", gw["p99_ms"] <= 50) if gw else None

    def rss() -> tuple[str, bool] | None:
        peak = doc["peak_rss_mb"].get("policyarc")
        return (f"{peak:.0f} MB", peak <= 150) if peak else None

    def scaling() -> tuple[str, bool] | None:
        for c in (64, 16):
            one, two = r.find("policyarc", "get_issue", c=c), r.find("policyarc-2w", "get_issue", c=c)
            if one and two and one["rps"]:
                ratio = two["rps"] / one["rps"]
                # What the cores allow: every call costs gateway + simulator + load generator CPU on the same box.
                per_call = two["server_cpu_ms_per_call"] + two["sim_cpu_ms_per_call"] + two["loadgen_cpu_ms_per_call"]
                cores = doc["machine"]["cores"] or 1
                ceiling = cores * 1000 / per_call
                bound = (
                    f"; {cores} cores allow at most {ceiling:.0f}/s ({ceiling / one['rps']:.2f}x) at {per_call:.2f} ms "
                    f"CPU/call (gateway + simulator + load generator): 2 workers reach {two['rps'] / ceiling:.0%} of it"
                )
                text = f"{two['rps']:.0f}/s vs {one['rps']:.0f}/s at c={c}: {ratio:.2f}x{bound}"
                return text, ratio >= 1.7
        return None

    sizes = doc["context_sizes"]

    def tools_list() -> tuple[str, bool] | None:
        n, theirs = sizes["policyarc"]["tools_list_bytes"], sizes["mcp-atlassian"]["tools_list_bytes"]
        return f"{n / 1000:.1f} KB (mcp-atlassian {theirs / 1000:.1f} KB)", n <= 8000

    def result_bytes() -> tuple[str, bool] | None:
        ours, theirs = sizes["policyarc"]["get_issue_text_bytes"], sizes["mcp-atlassian"]["get_issue_text_bytes"]
        return f"{ours} B vs {theirs} B: {ours / theirs:.2f} of it", ours * 3 <= theirs

    check("get_issue p50 within 3 ms of the direct call (c=1, 0 ms)", p50_vs_direct)
    check("throughput at least 5x mcp-atlassian's (get_issue, c=16)", throughput_vs_mcp_atlassian)
    check("server CPU per call at most 3 ms (get_issue, c=16)", cpu_per_call)
    check("p99 at most 50 ms (get_issue, c=16, 0 ms)", p99)
    check("peak RSS at most 150 MB (one worker, whole run)", rss)
    check("2 workers at least 1.7x one worker's throughput (get_issue)", scaling)
    check("tools/list at most 8 KB", tools_list)
    check("get_issue result at most a third of mcp-atlassian's (text content)", result_bytes)
    return out


def markdown(doc: dict[str, Any], png_name: str) -> str:
    r = Results(doc["results"])
    m = doc["machine"]
    lines = [
        "# Benchmarks: PolicyArc side by side with mcp-atlassian",
        "",
        f"Measured {doc['date']} with `{doc['command']}` "
        f"({'quick subset' if doc['quick'] else 'full plan'}: {doc['seconds_per_cell']:g} s per cell after "
        f"{doc['warmup_seconds']:g} s of warm-up).",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, Python {m['python']}. "
        "The load generator, the simulator and the server under test share these cores.",
        "",
        "Systems, all against the same Atlassian simulator (`policyarc sim`, rate limits off), each user with "
        "their own token:",
        "",
        "- **direct (floor)**: the Jira REST v3 request PolicyArc's tool sends, straight to the simulator.",
        "- **bare MCP SDK**: `bench/bare_server.py`, the MCP SDK's low-level server (stateless, JSON responses, "
        "uvicorn) making the same upstream call with httpx and returning Jira's JSON: the framework floor.",
        "- **PolicyArc**: `policyarc serve`, one worker (SQLite), users signed in through the OAuth flow; every "
        "call checks the token, scope and Cedar policy, reads the vault, shapes the result and commits an audit "
        "record.",
        "- **mcp-atlassian 0.23.1**: the command of issue 4 (Server/DC mode, Jira REST v2 on the simulator's site "
        "path), the user's Atlassian token as `Authorization: Bearer`.",
        "",
        "Columns: calls/s (successful), latency percentiles in ms, server CPU per call in ms (utime+stime of the "
        "server's processes; for the floor, the simulator's), the simulator's CPU per call, the ratio of "
        "throughput to mcp-atlassian's, and p50 minus the direct call's p50.",
        "",
        "## Targets (issue 4)",
        "",
        "| Target | Measured | |",
        "| --- | --- | --- |",
    ]
    for name, measured, passed in targets(doc):
        mark = "pass" if passed else ("miss" if passed is False else "n/a")
        lines.append(f"| {name} | {measured} | **{mark}** |")
    lines += ["", f"![throughput and latency]({png_name})", ""]
    if doc.get("notes"):
        lines += ["## Notes on this run", "", *(f"- {note}" for note in doc["notes"]), ""]
    titles = {
        "get_issue": "get_issue (ENG-1)",
        "search_issues": "search_issues (20 issues)",
        "create_issue": "create_issue (in OPS)",
    }
    for workload, title in titles.items():
        rows = [row for row in doc["results"] if row["workload"] == workload]
        if not rows:
            continue
        lines += [
            f"## {title}",
            "",
            "| sim latency | users | conc. | system | calls/s | p50 | p95 | p99 | CPU/call | sim CPU/call "
            "| errors | vs mcp-atlassian | p50 - direct |",
            "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in rows:
            key = (row["workload"], row["latency_ms"], row["users"], row["concurrency"])
            mcp_a = r.find("mcp-atlassian", *key)
            direct = r.find("direct", *key)
            added = f"{row['p50_ms'] - direct['p50_ms']:+.2f}" if direct and row["system"] != "direct" else ""
            lines.append(
                f"| {row['latency_ms']} ms | {row['users']} | {row['concurrency']} | {SYSTEM_LABELS[row['system']]} "
                f"| {_fmt(row['rps'])} | {_fmt(row['p50_ms'], 2)} | {_fmt(row['p95_ms'], 2)} "
                f"| {_fmt(row['p99_ms'], 2)} | {_fmt(row['server_cpu_ms_per_call'], 2)} "
                f"| {_fmt(row['sim_cpu_ms_per_call'], 2)} | {row['errors']} "
                f"| {_ratio(row['rps'], mcp_a['rps'] if mcp_a else None)} | {added} |"
            )
        lines.append("")
    sizes = doc["context_sizes"]
    lines += [
        "## What an agent pays in context",
        "",
        "| system | tools | `tools/list` bytes | `get_issue` ENG-1 text bytes | whole `result` bytes "
        "| upstream requests per `get_issue` |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for system in ("policyarc", "mcp-atlassian", "bare"):
        s = sizes.get(system)
        if s:
            upstream = s.get("get_issue_upstream_requests", [])
            listed = "<br>".join(f"`{u}`" for u in upstream)
            lines.append(
                f"| {SYSTEM_LABELS[system]} | {s['tools']} | {s['tools_list_bytes']:,} | "
                f"{s['get_issue_text_bytes']:,} | {s['get_issue_result_bytes']:,} | {len(upstream)}: {listed} |"
            )
    if "direct" in sizes:
        lines.append(f"| Jira's own JSON (direct) | | | {sizes['direct']['get_issue_result_bytes']:,} | | 1 |")
    lines += [
        "",
        "PolicyArc's result carries the same text twice on the wire (as text content and as structured content, "
        "as the MCP spec asks of tools with an output schema); a model reads one of them.",
        "",
        "## Peak RSS (VmHWM over the run, MB)",
        "",
        "| process | MB |",
        "| --- | ---: |",
        *(f"| {SYSTEM_LABELS.get(k, k)} | {v:.0f} |" for k, v in doc["peak_rss_mb"].items()),
        "",
    ]
    for profile in doc.get("profiles") or []:
        lines += [
            f"## Profile: {SYSTEM_LABELS[profile['system']]} under get_issue at concurrency {profile['concurrency']}",
            "",
            f"py-spy `--gil`, {profile['seconds']:g} s at 100 Hz, {profile['samples']} samples of the thread "
            "holding the GIL. Where the time goes (inclusive; nested areas overlap):",
            "",
            "| area | samples | % |",
            "| --- | ---: | ---: |",
            *(f"| {row['area']} | {row['samples']} | {row['pct']} |" for row in profile.get("areas", [])),
            "",
            "The frames with the most own time (`Runner.run` is uvloop's event loop, in C):",
            "",
            "| frame | samples | own % |",
            "| --- | ---: | ---: |",
            *(f"| `{row['frame']}` | {row['samples']} | {row['pct']} |" for row in profile["top_own"]),
            "",
            "And by inclusive time (the frame and what it calls; the frames every sample passes through are left out):",
            "",
            "| frame | samples | inclusive % |",
            "| --- | ---: | ---: |",
            *(f"| `{row['frame']}` | {row['samples']} | {row['pct']} |" for row in profile["top_inclusive"]),
            "",
        ]
    return "\n".join(lines)


def plot(doc: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [row for row in doc["results"] if row["latency_ms"] == 0 and row["users"] == 1]
    workloads = [w for w in ("get_issue", "search_issues", "create_issue") if any(r["workload"] == w for r in rows)]
    systems = [s for s in SYSTEM_LABELS if any(r["system"] == s for r in rows)]
    fig, axes = plt.subplots(2, len(workloads), figsize=(5 * len(workloads), 7), squeeze=False)
    for col, workload in enumerate(workloads):
        mine = [r for r in rows if r["workload"] == workload]
        concurrencies = sorted({r["concurrency"] for r in mine})
        width = 0.8 / max(len(systems), 1)
        for metric, row_index, label in (("rps", 0, "calls/s"), ("p50_ms", 1, "p50 latency (ms)")):
            ax = axes[row_index][col]
            for i, system in enumerate(systems):
                values = []
                for c in concurrencies:
                    hit = next((r for r in mine if r["system"] == system and r["concurrency"] == c), None)
                    values.append(hit[metric] if hit else 0)
                xs = [x + (i - (len(systems) - 1) / 2) * width for x in range(len(concurrencies))]
                ax.bar(xs, values, width, label=SYSTEM_LABELS[system], color=COLOURS[system])
            ax.set_xticks(range(len(concurrencies)), [f"c={c}" for c in concurrencies])
            ax.set_ylabel(label)
            ax.set_yscale("log")  # the direct floor is an order of magnitude away from the MCP servers
            ax.set_title(f"{workload} ({label}, 0 ms, 1 user)", fontsize=10)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(doc: dict[str, Any], out: Path) -> list[Path]:
    json_path, md_path, png_path = out / "benchmarks.json", out / "benchmarks.md", out / "benchmarks.png"
    json_path.write_text(json.dumps(doc, indent=2) + "\n")
    written = [json_path]
    if plot(doc, png_path):
        written.append(png_path)
    md_path.write_text(markdown(doc, png_path.name) + "\n" + _kept_sections(md_path))
    written.append(md_path)
    return written


# Sections of benchmarks.md written from other runs (compare.py --scale): a report of the side-by-side cells must not
# erase them. Everything from the first of these headings to the end of the file is carried over as it is.
KEPT_HEADINGS = ("## Scale (issue 10)",)


def _kept_sections(md_path: Path) -> str:
    try:
        text = md_path.read_text()
    except FileNotFoundError:
        return ""
    starts = [text.find("\n" + heading) for heading in KEPT_HEADINGS]
    found = [start for start in starts if start >= 0]
    return text[min(found) :] if found else ""


def main() -> None:
    """Re-render the Markdown and the plot from a results file: `python bench/report.py docs/benchmarks.json`."""
    import sys

    source = Path(sys.argv[1])
    write(json.loads(source.read_text()), source.parent)


if __name__ == "__main__":
    main()
