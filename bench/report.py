"""The run's results as a Markdown table and PNG plots of latency against offered load."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a server or in CI
import matplotlib.pyplot as plt

from bench.results import BenchmarkRun, Endpoint, OverloadRun, Requests, Round, Tracing, ratios


def _number(value: float | None) -> str:
    # No requests of a kind (the fan-out runs send only GETs) leave no percentile: a dash.
    return "-" if value is None else f"{value:.1f}"


def _row(label: str, step: Round) -> str:
    cells = [label, f"{step.offered_rps:.0f}" if step.offered_rps else "closed loop"]
    columns: list[Requests] = [*(step.by_endpoint[e] for e in Endpoint), step.overall]
    for requests in columns:
        latency = requests.latency
        cells += [
            _number(requests.throughput_rps),
            " / ".join(_number(q) for q in (latency.p50_ms, latency.p95_ms, latency.p99_ms)),
            str(requests.errors),
        ]
    cells.append(f"{step.cpu_ms_per_request:.2f}")
    return "| " + " | ".join(cells) + " |"


def markdown(run: BenchmarkRun) -> str:
    header = ["run", "offered rps"]
    for endpoint in (*Endpoint, "all"):
        header += [f"{endpoint} rps", f"{endpoint} p50/p95/p99 ms", "errors"]
    header.append("CPU ms/request")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for tracing, variant in run.tracing.variants.items():
        lines.append(_row(f"tracing {tracing}, capacity", variant.capacity.median))
        lines.append(_row(f"tracing {tracing}, fixed rate", variant.fixed_rate.median))
        for step in variant.sweep:
            lines.append(_row(f"tracing {tracing}, sweep", step))
    fanout = run.fanout
    for mode, repeated in (("concurrent", fanout.concurrent), ("sequential", fanout.sequential)):
        label = f"fan-out {mode} ({fanout.injected_ms} ms injected)"
        lines.append(_row(label, repeated.median))
    pair, clients = run.async_vs_sync.at_goal_latency, run.async_vs_sync.clients
    for design, repeated in (("async", pair.async_service), ("sync", pair.sync_service)):
        label = f"{design} order service ({pair.injected_ms} ms, {clients} clients)"
        lines.append(_row(label, repeated.median))
    lines.append(_row(f"span pipeline, {Tracing.SAMPLED_100}", run.pipeline.load))

    if run.overload is not None:
        lines += ["", *overload_table(run.overload)]

    lines += ["", "| ratio | measured | goal | met |", "|---|---|---|---|"]
    for name, ratio in ratios(run).items():
        shown = "n/a" if ratio.value is None else f"{ratio.value:.3g}"
        met = {True: "yes", False: "**no**", None: ""}[ratio.met]
        lines.append(f"| {name} | {shown} | {ratio.goal_text or ''} | {met} |")

    lines += ["", "| span counter (pipeline run) | spans |", "|---|---|"]
    for name, value in run.pipeline.spans.model_dump().items():
        lines.append(f"| {name} | {value:.0f} |")

    if run.profiles is not None:
        profiles = run.profiles.services
        libraries = sorted({lib for p in profiles.values() for lib in p.library_shares})
        lines += [
            "",
            "| share of CPU samples (py-spy, innermost library) | " + " | ".join(profiles) + " |",
            "|---|" + "---|" * len(profiles),
        ]
        for lib in libraries:
            shares = [p.library_shares.get(lib, 0) for p in profiles.values()]
            lines.append(f"| {lib} | " + " | ".join(f"{x:.0%}" for x in shares) + " |")
    return "\n".join(lines) + "\n"


def overload_table(overload: OverloadRun) -> list[str]:
    header = (
        "admission",
        "offered rps",
        "goodput rps (/ capacity)",
        "within 1 s rps",
        "p99 of the answered ms",
        "shed (503, 504)",
        "shed p99 ms",
        "client timeouts",
        "probes p99 ms",
        "after: p99 ms",
    )
    lines = [
        f"Overload: open-loop spikes of {overload.spike_s:g} s, "
        f"{overload.get_share:.0%} GET /orders/{{id}}, "
        f"capacity {overload.capacity_rps:.0f} rps (closed loop, no admission control)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    capacity = overload.capacity_rps
    for spike in overload.spikes:
        share = f" ({spike.goodput_rps / capacity:.2f})" if capacity else ""
        cells = (
            spike.admission,
            f"{spike.multiple:g}x ({spike.offered_rps:.0f})",
            f"{spike.goodput_rps:.0f}{share}",
            f"{spike.timely_goodput_rps:.0f}",
            _number(spike.answered_p99_ms),
            str(spike.shed),
            _number(spike.shed_p99_ms),
            str(spike.client_timeouts),
            _number(spike.probes_p99_ms),
            _number(spike.after_p99_ms),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def overload_plot(overload: OverloadRun, path: Path) -> None:
    """Goodput within 1 s and the p99 of the answered against the offered load, one line per
    stack, the capacity as a dashed line."""
    figure, (goodput, latency) = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for admission in dict.fromkeys(spike.admission for spike in overload.spikes):
        spikes = [spike for spike in overload.spikes if spike.admission == admission]
        offered = [spike.offered_rps for spike in spikes]
        goodput.plot(offered, [s.timely_goodput_rps for s in spikes], "o-", label=admission)
        latency.plot(offered, [s.answered_p99_ms for s in spikes], "o-", label=admission)
    goodput.axhline(overload.capacity_rps, linestyle="--", color="grey", label="capacity")
    goodput.set_ylabel("goodput (2xx within 1 s, per s)")
    latency.set_ylabel("p99 of the answered (ms)")
    latency.set_yscale("log")
    for axes in (goodput, latency):
        axes.set_xlabel("offered load (requests/s, open loop)")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plots(run: BenchmarkRun, folder: Path) -> list[Path]:
    """p50 and p99 of both endpoints against offered load, one line per tracing variant."""
    written = []
    for endpoint in Endpoint:
        figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
        for tracing, variant in run.tracing.variants.items():
            rates = [step.offered_rps for step in variant.sweep]
            latencies = [step.by_endpoint[endpoint].latency for step in variant.sweep]
            axes[0].plot(rates, [q.p50_ms for q in latencies], "o-", label=f"tracing {tracing}")
            axes[1].plot(rates, [q.p99_ms for q in latencies], "o-", label=f"tracing {tracing}")
        for ax, q in zip(axes, ("p50", "p99"), strict=True):
            ax.set_xlabel("offered load (requests/s, both endpoints)")
            ax.set_ylabel(f"{q} latency (ms)")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
            ax.set_title(f"{endpoint}: {q}")
            ax.legend()
        figure.tight_layout()
        name = "post" if endpoint is Endpoint.CREATE_ORDER else "get"
        path = folder / f"latency-{name}-orders.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    if run.overload is not None:
        overload_plot(run.overload, folder / "overload.png")
        written.append(folder / "overload.png")
    return written
