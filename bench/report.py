"""The run's results as a Markdown table and PNG plots of latency against offered load."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a server or in CI
import matplotlib.pyplot as plt

from bench.load import ENDPOINTS


def _number(value: float | None) -> str:
    # No requests of a kind (the fan-out runs send only GETs) leave no percentile: a dash.
    return "-" if value is None or value != value else f"{value:.1f}"


def _row(label: str, step: dict[str, Any]) -> str:
    cells = [label, f"{step['offered_rps']:.0f}" if step.get("offered_rps") else "closed loop"]
    for endpoint in (*ENDPOINTS, "all"):
        m = step[endpoint]
        cells += [
            _number(m["throughput_rps"]),
            " / ".join(_number(m[q]) for q in ("p50_ms", "p95_ms", "p99_ms")),
            str(m["errors"]),
        ]
    cells.append(f"{step['cpu_s_per_request'] * 1000:.2f}")
    return "| " + " | ".join(cells) + " |"


def markdown(results: dict[str, Any]) -> str:
    header = ["run", "offered rps"]
    for endpoint in (*ENDPOINTS, "all"):
        header += [f"{endpoint} rps", f"{endpoint} p50/p95/p99 ms", "errors"]
    header.append("CPU ms/request")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for label, variant in results["tracing"].items():
        lines.append(_row(f"tracing {label}, capacity", variant["capacity"]))
        lines.append(_row(f"tracing {label}, fixed rate", variant["fixed_rate"]))
        for step in variant["sweep"]:
            lines.append(_row(f"tracing {label}, sweep", step))
    for mode in ("concurrent", "sequential"):
        lines.append(_row(f"fan-out {mode} (100 ms injected)", results["fanout"][mode]))
    for design in ("async", "sync"):
        lines.append(
            _row(f"{design} order service (20 ms, 50 clients)", results["async_vs_sync"][design])
        )
    lines.append(_row("span pipeline, 100%", results["pipeline"]["load"]))

    lines += ["", "| ratio | measured | goal | met |", "|---|---|---|---|"]
    for name, ratio in results["ratios"].items():
        value = ratio["value"]
        shown = "n/a" if value is None or value != value else f"{value:.3g}"
        met = {True: "yes", False: "**no**", None: ""}[ratio["met"]]
        lines.append(f"| {name} | {shown} | {ratio['goal'] or ''} | {met} |")

    lines += ["", "| span counter (pipeline run) | spans |", "|---|---|"]
    for name, value in results["pipeline"]["spans"].items():
        lines.append(f"| {name} | {value:.0f} |")

    if "profiles" in results:
        names = [n for n in results["profiles"] if n != "load"]
        libraries = sorted(
            {lib for n in names for lib in results["profiles"][n]["libraries_share"]}
        )
        lines += [
            "",
            "| share of CPU samples (py-spy, innermost library) | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for lib in libraries:
            shares = [results["profiles"][n]["libraries_share"].get(lib, 0) for n in names]
            lines.append(f"| {lib} | " + " | ".join(f"{x:.0%}" for x in shares) + " |")
    return "\n".join(lines) + "\n"


def plots(results: dict[str, Any], folder: Path) -> list[Path]:
    """p50 and p99 of both endpoints against offered load, one line per tracing variant."""
    written = []
    for endpoint in ENDPOINTS:
        figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
        for label, variant in results["tracing"].items():
            rates = [step["offered_rps"] for step in variant["sweep"]]
            for ax, q in zip(axes, ("p50_ms", "p99_ms"), strict=True):
                ax.plot(
                    rates,
                    [s[endpoint][q] for s in variant["sweep"]],
                    "o-",
                    label=f"tracing {label}",
                )
        for ax, q in zip(axes, ("p50", "p99"), strict=True):
            ax.set_xlabel("offered load (requests/s, both endpoints)")
            ax.set_ylabel(f"{q} latency (ms)")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_title(f"{endpoint}: {q}")
            ax.legend()
        figure.tight_layout()
        path = folder / f"latency-{'post' if endpoint.startswith('POST') else 'get'}-orders.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written
