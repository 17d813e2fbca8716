"""The harness's output: the table of medians and ratios, and the plot of time against rows."""

from __future__ import annotations

from harness_run import Outcome

# --- the table ----------------------------------------------------------------------------------


def _fmt_s(o: Outcome, limit: float) -> str:
    if o.status == "ok":
        return f"{o.median:.2f}"
    if o.status == "limit":
        return f"> {limit:.0f}"
    if o.status == "oom":
        return "OOM"
    return o.status


def _ratio(o: Outcome, base: Outcome | None, limit: float) -> str:
    if base is None or base.status != "ok" or not base.median:
        return "-"
    if o.status == "ok":
        return f"{o.median / base.median:.2f}"
    if o.status == "limit":
        return f"> {limit / base.median:.0f}"
    return "-"


def _result(o: Outcome, budget_mb: float | None, budget_name: str = "budget") -> str:
    if o.status == "skipped" or o.status == "error":
        return o.detail
    if o.status == "oom":
        return f"killed at {o.seconds[0]:.1f} s: RSS > {budget_mb:.0f} MB {budget_name}"
    if o.status == "limit":
        return "killed at the time limit"
    c = o.check
    if "drifted" in c:
        extra = f" ({', '.join(c['methods'])})" if c.get("methods") else ""
        if budget_name == "budget" and o.spec.args.get("memory_limit"):
            extra += "" if c.get("limited_connections") else " (memory_limit NOT applied!)"
        return f"{len(c['drifted'])} drifted: {' '.join(c['drifted'])}{extra}"
    if "top" in c:
        return f"top: {c['top'][0]}" if c["top"] else "no slice"
    return ""


def table(title: str, outs: dict[str, Outcome], limit: float, budget_mb: float | None = None,
          budget_name: str = "budget", sentinel: str = "sentinel") -> str:
    head = (f"{'tool':<38}{'median s':>9}{'x floor':>9}{'x Sentinel':>11}{'CPU s':>8}"
            f"{'peak RSS MB':>12}  result")
    lines = [title, head, "-" * len(head)]
    sen = outs.get(sentinel)
    notes = set()
    for o in outs.values():
        floor = outs.get(o.spec.floor) if o.spec.floor else None
        if o.spec.floor and o.spec.floor != "duckdb":
            notes.add(f"x floor of the rows marked * is to '{outs[o.spec.floor].spec.label}'")
        mark = "*" if o.spec.floor and o.spec.floor != "duckdb" else ""
        rss = "-" if o.status == "skipped" else (
            f"> {budget_mb:.0f}" if o.status == "oom" else f"{o.rss_mb:.0f}")
        cpu = f"{o.median_cpu:.2f}" if o.cpu else "-"
        lines.append(
            f"{o.spec.label + mark:<38}{_fmt_s(o, limit):>9}"
            f"{(_ratio(o, floor, limit) if floor else '1.00' if o.status == 'ok' else '-'):>9}"
            f"{_ratio(o, sen, limit):>11}{cpu:>8}{rss:>12}  {_result(o, budget_mb, budget_name)}"
        )
    return "\n".join(lines + sorted(notes)) + "\n"


# --- the plot -----------------------------------------------------------------------------------


def plot(runs: list[dict], path: str, limit: float) -> str:
    """Time against rows per tool (drift and slices), log-log; floors dashed. A run killed at
    the time limit is a triangle at the limit, one killed past the memory cap an X at the time
    it was killed. Memory-budget scenarios are left out (they are a table, not a curve)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install matplotlib)"
    fig, axes = plt.subplots(1, 2, figsize=(12, 6.5))
    for ax, kind in zip(axes, ("drift", "slices"), strict=True):
        series: dict[str, list[tuple[int, float, str]]] = {}
        for run in runs:
            if run["kind"] != kind or run.get("budget_mb"):
                continue
            for t in run["tools"]:
                if t["status"] == "ok":
                    series.setdefault(t["label"], []).append((run["rows"], t["median_s"], "ok"))
                elif t["status"] in ("limit", "oom") and t["seconds"]:
                    y = limit if t["status"] == "limit" else t["seconds"][0]
                    series.setdefault(t["label"], []).append((run["rows"], y, t["status"]))
        for label, pts in series.items():
            pts.sort()
            done = [p for p in pts if p[2] == "ok"]  # the line joins finished runs only
            (line,) = ax.plot([p[0] for p in done], [p[1] for p in done], marker="o",
                              ls="--" if "scan" in label else "-", label=label)
            for status, marker in (("limit", "^"), ("oom", "X")):
                over = [p for p in pts if p[2] == status]
                if over:
                    ax.plot([p[0] for p in over], [p[1] for p in over], marker=marker, ms=12,
                            ls="none", color=line.get_color())
        ax.axhline(limit, color="grey", ls=":", lw=1)
        ax.text(0.01, limit, f"{limit:.0f} s limit", transform=ax.get_yaxis_transform(),
                va="bottom", fontsize=8, color="grey")
        ax.set(xscale="log", yscale="log", xlabel="rows per file" if kind == "drift" else "rows",
               ylabel="median seconds (imports excluded)",
               title=("drift: reference vs current" if kind == "drift" else "slice discovery")
               + "\n▲ killed at the time limit, X killed past the memory cap (time of kill)")
        ax.title.set_fontsize(10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot: {path}"
