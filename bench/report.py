"""The run's table (Markdown, printed and saved), its JSON and its plot."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Issue 15's goals (docs/benchmarks.md), and the pages' target from before.
GOAL_CPU_US = 25  # per delivery in rooms of 100 and 500, or twice the bare server's
GOAL_CPU_SIZES = (100, 500)
GOAL_PEAK_MSGS = 2000  # clean msgs/s in, in the peak room (10)
GOAL_PEAK_CPU_US = 60
GOAL_HANDSHAKES = 1000
GOAL_SOCKETS = 50_000
GOAL_KB_PER_SOCKET = 30
GOAL_P99_HALF_MS = 50
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


def workspace_rows(results: dict) -> list[str]:
    head = (
        "| server | users | rooms (largest) | sockets | msgs/s in | deliveries/s | p50 ms "
        "| p99 ms | max ms | lost | dup | errors | CPU µs/delivery | CPU µs/frame "
        "| typing frames received / unbounded fan-out |"
    )
    lines = [head, "|" + " --- |" * 15]
    for server in results["servers"]:
        data = server.get("workspace")
        if not data:
            continue
        lines.append(
            f"| {server['name']} | {_fmt(data['users'])} "
            f"| {_fmt(data['rooms'])} ({_fmt(data['largest_room'])}) | {_fmt(data['sockets'])} "
            f"| {_fmt(data['send_rate'])} | {_fmt(data['deliveries_per_s'])} "
            f"| {_fmt(data['p50_ms'])} | {_fmt(data['p99_ms'])} | {_fmt(data['max_ms'])} "
            f"| {_fmt(data['lost'])} | {_fmt(data['duplicates'])} | {_fmt(data['errors'])} "
            f"| {_fmt(data['cpu_us_per_delivery'])} | {_fmt(data['cpu_us_per_frame'])} "
            f"| {_fmt(data['typing_received'])} / {_fmt(data['typing_expected'])} |"
        )
    return lines


def connection_rows(results: dict) -> list[str]:
    bare = _bare(results).get("connections") or {}
    lines = [
        "| server | processes (server / client) | target | held 2 s after | failed or not tried "
        "| handshakes/s | ramp s | RSS delta MB | KB/socket | KB ÷ bare |",
        "|" + " --- |" * 10,
    ]
    for server in results["servers"]:
        data = server.get("connections")
        if not data:
            continue
        lines.append(
            f"| {data['server']} | {data['server_processes']} / {data['client_processes']} "
            f"| {_fmt(data['target'])} | {_fmt(data['still_held'])} "
            f"| {_fmt(sum(data['failures'].values()))} | {_fmt(data['connect_rate'])} "
            f"| {_fmt(data['seconds'])} | {_fmt(data['rss_delta_mb'])} "
            f"| {_fmt(data['kb_per_socket'])} "
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


def _peak(server: dict) -> dict:
    return (server.get("peak") or {}).get("best") or {}


def goals(results: dict) -> list[dict]:
    """Issue 15's goals, each with what this run measured and whether it is met; then the
    pages' target. A goal this run did not measure is left out."""
    parley = [s for s in results["servers"] if s["kind"] == "parley" and not s.get("failed")]
    room = results.get("peak_room") or "-"
    out = []

    def add(figure, goal, measured, met):
        out.append(
            {
                "figure": figure,
                "goal": goal,
                "measured": measured,
                "met": "met" if met else "not met",
            }
        )

    bare = {row["members"]: row["cpu_us_per_delivery"] for row in _bare(results).get("fanout", [])}
    limits = [max(GOAL_CPU_US, 2 * (bare.get(size) or 0)) for size in GOAL_CPU_SIZES]
    cpu = []
    for server in parley:
        by_size = {row["members"]: row["cpu_us_per_delivery"] for row in server["fanout"]}
        values = [by_size.get(size) for size in GOAL_CPU_SIZES]
        if None not in values:
            cpu.append((server["name"], values))
    if cpu:
        name, values = min(
            cpu, key=lambda item: max(v / limit for v, limit in zip(item[1], limits, strict=True))
        )
        add(
            "server CPU per delivery, rooms of " + " / ".join(map(str, GOAL_CPU_SIZES)),
            " / ".join(f"≤ {limit:.0f}" for limit in limits)
            + f" µs ({GOAL_CPU_US} µs, or 2x bare where higher)",
            " / ".join(f"{v:.0f}" for v in values) + f" µs ({name})",
            all(v <= limit for v, limit in zip(values, limits, strict=True)),
        )
    peaks = [(s["name"], _peak(s)) for s in parley if _peak(s)]
    if peaks:

        def meets(peak):
            return (
                peak["send_rate"] >= GOAL_PEAK_MSGS
                and (peak["cpu_us_per_delivery"] or 0) <= GOAL_PEAK_CPU_US
            )

        name, peak = max(peaks, key=lambda item: (meets(item[1]), item[1]["send_rate"]))
        add(
            f"clean peak in a room of {room}",
            f"≥ {GOAL_PEAK_MSGS:,} msgs/s in",
            f"{_fmt(peak['send_rate'])} msgs/s in, {_fmt(peak['deliveries_per_s'])} "
            f"deliveries/s ({name})",
            peak["send_rate"] >= GOAL_PEAK_MSGS,
        )
        add(
            "CPU per delivery at that peak",
            f"≤ {GOAL_PEAK_CPU_US} µs",
            f"{_fmt(peak['cpu_us_per_delivery'])} µs ({name})",
            (peak["cpu_us_per_delivery"] or 0) <= GOAL_PEAK_CPU_US,
        )
        pooled = [_peak(s) for s in results["servers"] if s["name"] == "tutorial pooled uvicorn"]
        if pooled and pooled[0]:
            add(
                f"clean peak in a room of {room} beside the tutorial with a pooled connection",
                "higher",
                f"{_fmt(peak['send_rate'])} against {_fmt(pooled[0]['send_rate'])} msgs/s in",
                peak["send_rate"] > pooled[0]["send_rate"],
            )
    sockets = [s["connections"] for s in parley if s.get("connections")]
    if sockets:
        best = max(sockets, key=lambda c: c["connect_rate"])
        add(
            "authenticated handshakes per second (during the socket ramp)",
            f"≥ {GOAL_HANDSHAKES:,}/s",
            f"{_fmt(best['connect_rate'])}/s ({best['server']})",
            best["connect_rate"] >= GOAL_HANDSHAKES,
        )
        best = max(sockets, key=lambda c: (c["still_held"], -c["kb_per_socket"]))
        add(
            "idle authenticated sockets held, memory each",
            f"{GOAL_SOCKETS:,} held, ≤ {GOAL_KB_PER_SOCKET} KB each",
            f"{best['still_held']:,} of {best['target']:,} held, "
            f"{_fmt(best['kb_per_socket'])} KB each ({best['server']})",
            best["still_held"] >= GOAL_SOCKETS and best["kb_per_socket"] <= GOAL_KB_PER_SOCKET,
        )
    halves = [
        (s["name"], s["peak"]["half"]["p99_ms"])
        for s in parley
        if (s.get("peak") or {}).get("half")
    ]
    if halves:
        add(
            "p99 send → deliver at half of peak",
            f"≤ {GOAL_P99_HALF_MS} ms, every configuration",
            ", ".join(f"{n}: {_fmt(v)} ms" for n, v in halves),
            all(v is not None and v <= GOAL_P99_HALF_MS for _, v in halves),
        )
    rows = [
        (s["name"], row)
        for s in parley
        for row in s.get("fanout", [])
        + (s.get("peak") or {}).get("steps", [])
        + [(s.get("peak") or {}).get("half") or {}, s.get("workspace") or {}]
        if row
    ]
    if rows:
        bad = [(name, row) for name, row in rows if row["lost"] or row["duplicates"]]
        add(
            "lost or doubled at any offered rate, above the peak and in the workspace too",
            "0",
            "; ".join(f"{n}: {r['lost']:,} lost, {r['duplicates']:,} doubled" for n, r in bad[:6])
            or f"none in {len(rows)} rows",
            not bad,
        )
    pages = [(s["name"], s["pages"]) for s in parley if s.get("pages")]
    if pages:
        queries = results.get("page_queries", {})
        constant = all(len(set(counts.values())) == 1 for counts in queries.values())
        add(
            "chat page and lobby",
            f"p50 ≤ {TARGET_PAGE_P50_MS} ms, constant query count",
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


def goal_rows(results: dict) -> list[str]:
    lines = ["| figure | goal | measured | status |", "| --- | --- | --- | --- |"]
    for item in results.get("goals", []):
        lines.append(f"| {item['figure']} | {item['goal']} | {item['measured']} | {item['met']} |")
    return lines


def markdown(results: dict) -> str:
    sections = [
        (
            "Messages (fan-out at a fixed offered rate; peak = highest clean rate in a room of "
            f"{results.get('peak_room', '-')}):",
            message_rows(results),
        ),
        (
            "Workspace (Zipf room sizes, each socket in all its user's rooms; CPU per message "
            "delivery, and per frame counting typing frames too):",
            workspace_rows(results),
        ),
        (
            "Idle authenticated sockets (held = still answering a ping 2 s after the ramp):",
            connection_rows(results),
        ),
        ("Pages (sequential GETs over one keep-alive connection):", page_rows(results)),
        ("Goals (issue 15):", goal_rows(results)),
    ]
    parts = [
        f"Run: {results['mode']} mode, {results['started']}, {results['machine']['summary']}",
        "",
    ]
    for title, rows in sections:
        if len(rows) > 2:  # more than the table's head
            parts += [title, "", *rows, ""]
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
    ax.axhline(GOAL_CPU_US, color="k", linestyle=":", linewidth=1)
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
    conns = [
        (s["connections"]["server"], s["connections"]) for s in servers if s.get("connections")
    ]
    if conns:
        ax.bar([n for n, _ in conns], [c["kb_per_socket"] for _, c in conns], color="tab:purple")
        ax.axhline(GOAL_KB_PER_SOCKET, color="k", linestyle=":", linewidth=1)
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
    results["goals"] = goals(results)
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    md_path.write_text(markdown(results))
    plot(results, png_path)
    return json_path, png_path, md_path
