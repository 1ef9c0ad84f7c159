"""The run's table (Markdown, printed and saved), its JSON and its plot."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

TARGET_CPU_US = 20
TARGET_P99_HALF_MS = 50
TARGET_SOCKETS = 50_000
TARGET_KB_PER_SOCKET = 30
TARGET_PAGE_P50_MS = 20


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _ratio(value, base) -> str:
    if value is None or not base:
        return "-"
    return f"{value / base:.2f}x" if value / base < 10 else f"{value / base:.0f}x"


def _bare(results: dict) -> dict:
    return next((s for s in results["servers"] if s["kind"] == "bare"), {})


def message_rows(results: dict) -> list[str]:
    bare = _bare(results)
    bare_fanout = {row["members"]: row for row in bare.get("fanout", [])}
    bare_peak = (bare.get("peak") or {}).get("best") or {}
    head = (
        "| server | workload | msgs/s in | deliveries/s | p50 ms | p95 ms | p99 ms | max ms "
        "| lost | dup | errors | CPU µs/delivery | deliveries ÷ bare | CPU ÷ bare |"
    )
    lines = [head, "|" + " --- |" * 14]

    def row(server, workload, data, base):
        lines.append(
            f"| {server['name']} | {workload} | {_fmt(data.get('send_rate'))} "
            f"| {_fmt(data.get('deliveries_per_s'))} | {_fmt(data.get('p50_ms'))} "
            f"| {_fmt(data.get('p95_ms'))} | {_fmt(data.get('p99_ms'))} "
            f"| {_fmt(data.get('max_ms'))} | {_fmt(data.get('lost'))} "
            f"| {_fmt(data.get('duplicates'))} | {_fmt(data.get('errors'))} "
            f"| {_fmt(data.get('cpu_us_per_delivery'))} "
            f"| {_ratio(data.get('deliveries_per_s'), base.get('deliveries_per_s'))} "
            f"| {_ratio(data.get('cpu_us_per_delivery'), base.get('cpu_us_per_delivery'))} |"
        )

    for server in results["servers"]:
        if server.get("failed"):
            lines.append(f"| {server['name']} | FAILED: {server['failed']} |" + " |" * 12)
        for data in server.get("fanout", []):
            row(server, f"fan-out {data['members']}", data, bare_fanout.get(data["members"], {}))
        peak = server.get("peak") or {}
        if peak.get("best"):
            label = "peak (client-bound)" if peak.get("client_bound") else "peak"
            row(server, f"{label} {peak['best']['members']}", peak["best"], bare_peak)
        if peak.get("half"):
            row(server, "half of peak", peak["half"], {})
    return lines


def connection_rows(results: dict) -> list[str]:
    bare = _bare(results).get("connections") or {}
    lines = [
        "| server | target | held | refused | connect/s | RSS delta MB | KB/socket | KB ÷ bare |",
        "|" + " --- |" * 8,
    ]
    for server in results["servers"]:
        data = server.get("connections")
        if not data:
            continue
        lines.append(
            f"| {server['name']} | {_fmt(data['target'])} | {_fmt(data['still_held'])} "
            f"| {_fmt(sum(data['failures'].values()))} | {_fmt(data['connect_rate'])} "
            f"| {_fmt(data['rss_delta_mb'])} | {_fmt(data['kb_per_socket'])} "
            f"| {_ratio(data['kb_per_socket'], bare.get('kb_per_socket'))} |"
        )
    return lines


def page_rows(results: dict) -> list[str]:
    queries = results.get("page_queries", {})
    lines = [
        "| server | page | requests | p50 ms | p99 ms | max ms | failures | queries (5 / 50) |",
        "|" + " --- |" * 8,
    ]
    for server in results["servers"]:
        for page, data in (server.get("pages") or {}).items():
            counts = queries.get(page, {})
            lines.append(
                f"| {server['name']} | {page} | {data['requests']} | {_fmt(data['p50_ms'])} "
                f"| {_fmt(data['p99_ms'])} | {_fmt(data['max_ms'])} | {data['failures']} "
                f"| {' / '.join(str(v) for v in counts.values())} |"
            )
    return lines


def targets(results: dict) -> list[dict]:
    """Each of the issue's targets with what this run measured and whether it is met."""
    parley = [s for s in results["servers"] if s["kind"] == "parley" and not s.get("failed")]
    out = []

    def add(name, measured, met):
        out.append({"target": name, "measured": measured, "status": "met" if met else "not met"})

    cpu = [
        (s["name"], s["peak"]["best"]["cpu_us_per_delivery"])
        for s in parley
        if (s.get("peak") or {}).get("best")
    ] or [(s["name"], row["cpu_us_per_delivery"]) for s in parley for row in s.get("fanout", [])]
    cpu = [(name, value) for name, value in cpu if value is not None]
    if cpu:
        name, best = min(cpu, key=lambda item: item[1])
        add(
            f"server CPU ≤ {TARGET_CPU_US} µs per delivered message (auth + PostgreSQL)",
            f"best {best:.0f} µs ({name})",
            best <= TARGET_CPU_US,
        )
    bad = [
        (s["name"], row["lost"], row["duplicates"])
        for s in parley
        for row in s.get("fanout", []) + (s.get("peak") or {}).get("steps", [])
        if row["lost"] or row["duplicates"]
    ]
    add(
        "0 messages lost or doubled at any offered rate",
        "none lost or doubled"
        if not bad
        else "; ".join(f"{n}: {lost} lost, {dup} doubled" for n, lost, dup in bad[:6]),
        not bad,
    )
    halves = [
        (s["name"], s["peak"]["half"]["p99_ms"])
        for s in parley
        if (s.get("peak") or {}).get("half")
    ]
    if halves:
        add(
            f"p99 send → deliver ≤ {TARGET_P99_HALF_MS} ms at half of peak",
            ", ".join(f"{n}: {_fmt(v)} ms" for n, v in halves),
            all(v is not None and v <= TARGET_P99_HALF_MS for _, v in halves),
        )
    sockets = [(s["name"], s["connections"]) for s in parley if s.get("connections")]
    if sockets:
        add(
            f"{TARGET_SOCKETS:,} authenticated sockets at ≤ {TARGET_KB_PER_SOCKET} KB each",
            ", ".join(
                f"{n}: {c['still_held']:,}/{c['target']:,} held, {_fmt(c['kb_per_socket'])} KB"
                for n, c in sockets
            ),
            any(
                c["still_held"] >= TARGET_SOCKETS and c["kb_per_socket"] <= TARGET_KB_PER_SOCKET
                for _, c in sockets
            ),
        )
    pages = [(s["name"], s["pages"]) for s in parley if s.get("pages")]
    if pages:
        queries = results.get("page_queries", {})
        constant = all(len(set(counts.values())) == 1 for counts in queries.values())
        add(
            f"chat page and lobby p50 ≤ {TARGET_PAGE_P50_MS} ms, constant query count",
            "; ".join(
                f"{n}: " + ", ".join(f"{page} {_fmt(d['p50_ms'])} ms" for page, d in p.items())
                for n, p in pages
            )
            + "; queries "
            + ", ".join(f"{page} {'/'.join(map(str, c.values()))}" for page, c in queries.items()),
            constant
            and all(d["p50_ms"] <= TARGET_PAGE_P50_MS for _, p in pages for d in p.values()),
        )
    return out


def target_rows(results: dict) -> list[str]:
    lines = ["| target | measured | status |", "| --- | --- | --- |"]
    for item in results.get("targets", []):
        lines.append(f"| {item['target']} | {item['measured']} | {item['status']} |")
    return lines


def markdown(results: dict) -> str:
    parts = [
        f"Run: {results['mode']} mode, {results['started']}, {results['machine']['summary']}",
        "",
        "Messages (fan-out at a fixed offered rate; peak = highest clean rate in a room of "
        f"{results.get('peak_room', '-')}):",
        "",
        *message_rows(results),
        "",
        "Idle authenticated sockets:",
        "",
        *connection_rows(results),
        "",
        "Pages (sequential GETs over one keep-alive connection):",
        "",
        *page_rows(results),
        "",
        "Targets:",
        "",
        *target_rows(results),
        "",
    ]
    return "\n".join(parts)


def plot(results: dict, path: Path) -> None:
    servers = [s for s in results["servers"] if not s.get("failed")]
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.5))
    sizes = sorted({row["members"] for s in servers for row in s.get("fanout", [])})
    width = 0.8 / max(1, len(servers))
    ax = axes[0]
    for n, server in enumerate(servers):
        by_size = {row["members"]: row["cpu_us_per_delivery"] for row in server.get("fanout", [])}
        by_size = {size: cpu for size, cpu in by_size.items() if cpu}
        xs = [i + n * width for i, size in enumerate(sizes) if by_size.get(size)]
        ys = [by_size[size] for size in sizes if by_size.get(size)]
        ax.bar(xs, ys, width, label=server["name"])
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(sizes))], [str(s) for s in sizes])
    ax.set_yscale("log")
    ax.axhline(TARGET_CPU_US, color="k", linestyle=":", linewidth=1)
    ax.set_xlabel("room members")
    ax.set_ylabel("server CPU µs per delivered message (log)")
    ax.set_title("Fan-out: CPU per delivery (dotted: target)")
    ax.legend(fontsize=7)
    ax = axes[1]
    for server in servers:
        steps = (server.get("peak") or {}).get("steps", [])
        if steps:
            xs = [step["deliveries_per_s"] for step in steps]
            ys = [max(step["p99_ms"] or 0, 0.1) for step in steps]
            marks = ["x" if step["lost"] or step["duplicates"] else "o" for step in steps]
            (line,) = ax.plot(xs, ys, "-", label=server["name"])
            for x, y, mark in zip(xs, ys, marks, strict=True):
                ax.plot(x, y, mark, color=line.get_color())
    ax.axhline(250, color="k", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("deliveries/s")
    ax.set_ylabel("p99 send → deliver, ms (log; x = lost messages)")
    ax.set_title(f"Peak ladder, room of {results.get('peak_room', '-')}")
    ax.legend(fontsize=7)
    ax = axes[2]
    conns = [(s["name"], s["connections"]) for s in servers if s.get("connections")]
    if conns:
        ax.bar([n for n, _ in conns], [c["kb_per_socket"] for _, c in conns], color="tab:purple")
        ax.axhline(TARGET_KB_PER_SOCKET, color="k", linestyle=":", linewidth=1)
        for i, (_, c) in enumerate(conns):
            ax.text(
                i,
                c["kb_per_socket"],
                f"{c['still_held']:,} held\n{c['connect_rate']:.0f}/s",
                ha="center",
                va="bottom",
                fontsize=7,
            )
        ax.tick_params(axis="x", labelrotation=20, labelsize=7)
    ax.set_ylabel("server RSS KB per idle socket")
    ax.set_title("Idle sockets (dotted: target)")
    fig.suptitle(f"Parley bench ({results['mode']}), {results['machine']['summary']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: dict, out: Path, stem: str) -> tuple[Path, Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path, md_path = (out / f"{stem}.{ext}" for ext in ("json", "png", "md"))
    results["targets"] = targets(results)
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    md_path.write_text(markdown(results))
    plot(results, png_path)
    return json_path, png_path, md_path
