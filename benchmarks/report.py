"""Turn a run's results into the budget verdicts, a Markdown table and a plot.

``python -m benchmarks.report`` re-renders ``results.md``, ``overhead.png`` and the docs page from
an existing ``benchmarks/results/results.json`` without measuring again.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from benchmarks.workloads import (
    APM_REFERENCE,
    BASELINE,
    FLOOR_RECORDING,
    FLOOR_SAMPLED_OUT,
    FLOOR_SAMPLED_OUT_NO_METER,
    FLOOR_SPAN,
    FLOOR_WRAPT,
    NO_METER,
)

#: Budgets of issue 6, in µs per call or as fractions.
OTEL_RECORDING_SHARE = 0.5  # of elasticsearch-py's own recording spans' overhead
QUIET_US = 5.0  # sampled out, or no SDK
WEAVIATE_RECORDING_SHARE = 0.05  # of the uninstrumented call's client CPU
#: Retained memory is "flat" when the resident set grows by less than this per call over the second
#: half of the memory run: a leak of one small object (64 bytes) per call would be four times that.
RETAINED_BYTES_PER_CALL_LIMIT = 16.0
_BOOTSTRAP = 2000

DOCS_START = "<!-- bench:results:start (written by make bench) -->"
DOCS_END = "<!-- bench:results:end -->"


# -- verdicts ----------------------------------------------------------------------------------
def _verdict(
    what: str,
    measured: float,
    limit: float,
    unit: str = "µs",
    note: str = "",
    interval: Optional[Sequence[float]] = None,
    floor: Optional[Tuple[float, Sequence[float]]] = None,
) -> Dict[str, Any]:
    """PASS when the median is within the limit; ``conclusive`` when its 95% interval agrees.

    ``floor``: what the SDK alone costs for the same recording (a ``floor-*`` configuration), with
    its interval. When even its interval's low end is above the limit, no instrumentation could
    meet the budget on this machine: the verdict says so instead of a plain FAIL.
    """
    margin = limit - measured
    conclusive = True
    if interval is not None:
        conclusive = (interval[1] <= limit) if measured <= limit else (interval[0] > limit)
    passed = measured <= limit
    out_of_reach = bool(floor is not None and not passed and floor[1][0] > limit)
    return {
        "budget": what,
        "limit": limit,
        "measured": measured,
        "measured_ci95": list(interval) if interval is not None else None,
        "unit": unit,
        "margin": margin,
        "margin_pct_of_limit": (margin / limit * 100) if limit else None,
        "pass": passed,
        "conclusive": conclusive,
        "floor": floor[0] if floor is not None else None,
        "floor_ci95": list(floor[1]) if floor is not None else None,
        "out_of_reach": out_of_reach,
        "note": note,
    }


def _entry(results: Dict[str, Any], client: str, name: str, op: str) -> Dict[str, Any]:
    entry: Dict[str, Any] = results[client]["cpu"]["stats"][name][op]
    return entry


def _overhead(results: Dict[str, Any], client: str, name: str, op: str) -> float:
    return float(_entry(results, client, name, op)["overhead_us"])


def _ci(results: Dict[str, Any], client: str, name: str, op: str) -> Sequence[float]:
    ci: Sequence[float] = _entry(results, client, name, op)["overhead_ci95_us"]
    return ci


def _has(results: Dict[str, Any], client: str, *names: str) -> bool:
    stats = results.get(client, {}).get("cpu", {}).get("stats", {})
    return all(name in stats for name in names)


def paired(
    results: Dict[str, Any], client: str, name: str, reference: str, op: str
) -> Tuple[float, Sequence[float]]:
    """Median over rounds of (``name``'s block - ``reference``'s block of the same round), and the
    95% bootstrap interval of that median: what ``name`` adds over ``reference``."""
    samples = results[client]["cpu"]["samples"]
    diffs = [a - b for a, b in zip(samples[name][op], samples[reference][op])]
    rng = random.Random(0)
    if len(diffs) < 3:
        return statistics.median(diffs), (min(diffs), max(diffs))
    medians = sorted(statistics.median(rng.choices(diffs, k=len(diffs))) for _ in range(_BOOTSTRAP))
    return statistics.median(diffs), (
        medians[int(_BOOTSTRAP * 0.025)],
        medians[int(_BOOTSTRAP * 0.975) - 1],
    )


def _floor(
    results: Dict[str, Any], client: str, name: str, op: str
) -> Optional[Tuple[float, Sequence[float]]]:
    if not _has(results, client, name):
        return None
    return _overhead(results, client, name, op), _ci(results, client, name, op)


def precise_added(
    results: Dict[str, Any], client: str, name: str, reference: str, op: str
) -> Optional[Tuple[float, float]]:
    """(instructions, µs at the baseline's rate) that ``name`` adds over ``reference`` per call,
    from the precise phase; ``None`` when it did not run (or not for these configurations)."""
    exact = results.get(client, {}).get("precise")
    if not exact:
        return None
    counts = exact["instructions"]
    if name not in counts or reference not in counts or BASELINE not in counts:
        return None
    added = counts[name][op] - counts[reference][op]
    base_us = float(_entry(results, client, BASELINE, op)["us_per_call"])
    rate = counts[BASELINE][op] / base_us  # instructions per CPU µs, for this client here
    return added, added / rate


def _quiet_verdict(
    results: Dict[str, Any],
    client: str,
    name: str,
    reference: str,
    label: str,
    floor_name: Optional[str],
    op: str,
) -> Dict[str, Any]:
    """A budget of a few µs: judged on the instruction counts of the precise phase when it ran
    (timing cannot resolve it here), with the timed result beside it."""
    labels = _labels(results, client)
    over = "the uninstrumented call" if reference == BASELINE else f"{labels[reference]}"
    what = f"{client.capitalize()} `{op}`, ours {label} ≤ {QUIET_US:g} µs added over {over}"
    if reference == BASELINE:
        timed, timed_ci = _overhead(results, client, name, op), _ci(results, client, name, op)
    else:
        timed, timed_ci = paired(results, client, name, reference, op)
    notes = [f"timed: {timed:+.1f} µs ({_interval(timed_ci)})"]
    if reference != BASELINE:
        notes.append(f"over no tracing at all: {_overhead(results, client, name, op):+.1f} µs")
    notes.append(_quiet_note(results, client, name, op, reference).lstrip("; "))
    exact = precise_added(results, client, name, reference, op)
    floor: Optional[Tuple[float, Sequence[float]]] = None
    if exact is None:
        if floor_name == FLOOR_WRAPT and reference != BASELINE:
            if _has(results, client, floor_name, reference):
                floor = paired(results, client, floor_name, reference, op)
        elif floor_name is not None:
            floor = _floor(results, client, floor_name, op)
        return _verdict(
            what,
            timed,
            QUIET_US,
            note="; ".join(n for n in notes[1:] if n),
            interval=timed_ci,
            floor=floor,
        )
    instructions, micros = exact
    if floor_name is not None:
        # The wrapt floor is measured with the client's own spans as they are by default, so it
        # is compared with the same reference as ours; the SDK floors with no tracing at all.
        floor_reference = reference if floor_name == FLOOR_WRAPT else BASELINE
        floor_exact = precise_added(results, client, floor_name, floor_reference, op)
        if floor_exact is not None:
            floor = (floor_exact[1], (floor_exact[1], floor_exact[1]))
    notes.insert(0, f"callgrind: {instructions:+,.0f} instructions/call")
    return _verdict(
        what, micros, QUIET_US, note="; ".join(n for n in notes if n), interval=None, floor=floor
    )


def _attributes(results: Dict[str, Any], client: str, name: str) -> Optional[List[str]]:
    summary = results[client]["cpu"]["summaries"].get(name) or {}
    last = summary.get("last_span")
    return list(last["attributes"]) if last else None


def budgets(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    verdicts: List[Dict[str, Any]] = []
    if "elasticsearch" in results:
        es_theirs = _overhead(results, "elasticsearch", "es-recording", "search")
        ours = _overhead(results, "elasticsearch", "ours-otel", "search")
        theirs_attrs = _attributes(results, "elasticsearch", "es-recording") or []
        ours_attrs = _attributes(results, "elasticsearch", "ours-otel") or []
        span_floor = _floor(results, "elasticsearch", FLOOR_SPAN, "search")
        note = (
            f"ours records {len(ours_attrs)} span attributes + the duration metric; "
            f"elasticsearch-py's span has {len(theirs_attrs)} and no metric"
        )
        if span_floor is not None:
            note += (
                f"; the SDK alone, for a bare span with our attributes and no metric, adds "
                f"{span_floor[0]:+.1f} µs"
            )
        verdicts.append(
            _verdict(
                "Elasticsearch `search`, ours OpenTelemetry recording ≤ ½ of what "
                "elasticsearch-py's own recording spans add (both over no tracing)",
                ours,
                es_theirs * OTEL_RECORDING_SHARE,
                note=note,
                interval=_ci(results, "elasticsearch", "ours-otel", "search"),
                floor=_floor(results, "elasticsearch", FLOOR_RECORDING, "search"),
            )
        )
        for name, reference, label, floor_name in (
            ("ours-otel-sampled-out", "es-sampled-out", "sampled out", FLOOR_SAMPLED_OUT),
            ("ours-otel-no-sdk", "es-default", "no SDK", FLOOR_WRAPT),
        ):
            if _has(results, "elasticsearch", name, reference):
                verdicts.append(
                    _quiet_verdict(
                        results, "elasticsearch", name, reference, label, floor_name, "search"
                    )
                )
        verdicts.append(
            _verdict(
                "Elasticsearch `search`, ours via Elastic APM ≤ what the agent's own "
                "Elasticsearch spans add",
                _overhead(results, "elasticsearch", "ours-apm", "search"),
                _overhead(results, "elasticsearch", "apm-agent", "search"),
                note="both inside the same transactions (one per 50 calls)",
                interval=_ci(results, "elasticsearch", "ours-apm", "search"),
            )
        )
    if "weaviate" in results:
        stats = results["weaviate"]["cpu"]["stats"]
        for op in results["weaviate"]["operations"]:
            base = float(stats[BASELINE][op]["us_per_call"])
            span_floor = _floor(results, "weaviate", FLOOR_SPAN, op)
            verdicts.append(
                _verdict(
                    f"Weaviate `{op}`, ours OpenTelemetry recording ≤ "
                    f"{WEAVIATE_RECORDING_SHARE:.0%} of the uninstrumented {base:.0f} µs",
                    _overhead(results, "weaviate", "ours-otel", op),
                    base * WEAVIATE_RECORDING_SHARE,
                    note=(
                        f"the SDK alone, for a bare span with our attributes and no metric, adds "
                        f"{span_floor[0]:+.1f} µs"
                        if span_floor is not None
                        else ""
                    ),
                    interval=_ci(results, "weaviate", "ours-otel", op),
                    floor=_floor(results, "weaviate", FLOOR_RECORDING, op),
                )
            )
        for op in results["weaviate"]["operations"]:
            for name, label, floor_name in (
                ("ours-otel-sampled-out", "sampled out", FLOOR_SAMPLED_OUT),
                ("ours-otel-no-sdk", "no SDK", FLOOR_WRAPT),
            ):
                verdicts.append(
                    _quiet_verdict(results, "weaviate", name, BASELINE, label, floor_name, op)
                )
    for client in ("elasticsearch", "weaviate"):
        for name, run in (results.get(client, {}).get("memory") or {}).items():
            verdicts.append(
                _verdict(
                    f"{client.capitalize()} `{run['operation']}`, {name}: retained memory flat "
                    f"over {run['calls']:,} calls",
                    retained_bytes_per_call(run),
                    RETAINED_BYTES_PER_CALL_LIMIT,
                    unit="bytes/call",
                    note="resident set after a full collection, growth over the second half",
                )
            )
    return verdicts


def _quiet_note(
    results: Dict[str, Any], client: str, name: str, op: str, reference: str = BASELINE
) -> str:
    if name != "ours-otel-sampled-out" or not _has(results, client, NO_METER, reference):
        return ""
    text = "with an SDK MeterProvider, so the duration metric is still recorded; without one: "
    exact = precise_added(results, client, NO_METER, reference, op)
    if exact is not None:
        text += f"{exact[1]:+.1f} µs ({exact[0]:+,.0f} instructions/call)"
        floor = precise_added(results, client, FLOOR_SAMPLED_OUT_NO_METER, BASELINE, op)
        if floor is not None:
            text += f", and the SDK floor of that (a bare sampled-out span) {floor[1]:+.1f} µs"
        return text
    if reference == BASELINE:
        return text + f"{_overhead(results, client, NO_METER, op):+.1f} µs (timed)"
    added, _ = paired(results, client, NO_METER, reference, op)
    return text + f"{added:+.1f} µs (timed)"


def _halves(run: Dict[str, Any]) -> Sequence[Dict[str, Any]]:
    points: List[Dict[str, Any]] = run["checkpoints"]
    return points[0], points[len(points) // 2], points[-1]


def retained_bytes_per_call(run: Dict[str, Any]) -> float:
    """Resident-set growth per call over the second half of the run.

    The first half lets every cache (ours, the client's, the SDK's, the agent's) fill; a leak keeps
    growing through the second.
    """
    _, middle, last = _halves(run)
    calls = last["calls"] - middle["calls"]
    if not calls or middle["rss_bytes"] is None:
        return 0.0
    return float(last["rss_bytes"] - middle["rss_bytes"]) / calls


def peak_rss(run: Dict[str, Any]) -> int:
    sampled = [p["rss_bytes"] for p in run["checkpoints"] if p["rss_bytes"] is not None]
    return max([run["max_rss_bytes"], *sampled])


# -- Markdown ----------------------------------------------------------------------------------
def _us(value: float) -> str:
    return f"{value:.1f}"


def _signed(value: float) -> str:
    return f"{value:+.1f}"


def _interval(pair: Sequence[float]) -> str:
    return f"{pair[0]:+.1f} … {pair[1]:+.1f}"


def _plus_minus(entry: Dict[str, Any]) -> str:
    low, high = entry["overhead_ci95_us"]
    return f"{entry['overhead_us']:+.1f} ± {(high - low) / 2:.1f}"


def _labels(results: Dict[str, Any], client: str) -> Dict[str, str]:
    return {cfg["name"]: cfg["label"] for cfg in results[client]["configs"]}


def _es_table(results: Dict[str, Any]) -> List[str]:
    es = results["elasticsearch"]
    stats = es["cpu"]["stats"]
    labels = _labels(results, "elasticsearch")
    rows = [
        "| configuration | CPU µs/call | added µs/call | added, 95% interval | x baseline | "
        "recorded |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, label in labels.items():
        entry = stats[name]["search"]
        added = _signed(entry["overhead_us"]) if "overhead_us" in entry else "—"
        interval = _interval(entry["overhead_ci95_us"]) if "overhead_ci95_us" in entry else "—"
        ratio = f"{entry['ratio']:.3f}" if "ratio" in entry else "1"
        rows.append(
            f"| {label} | {_us(entry['us_per_call'])} | {added} | {interval} | {ratio} | "
            f"{_recorded(results, 'elasticsearch', name)} |"
        )
    return rows


def _recorded(results: Dict[str, Any], client: str, name: str) -> str:
    checks = results[client]["cpu"]["checks"].get(name, {})
    summary = results[client]["cpu"]["summaries"].get(name, {})
    calls = checks.get("calls", 0)
    parts = []
    if checks.get("otel_spans"):
        attributes = len((summary.get("last_span") or {}).get("attributes") or ())
        parts.append(f"{checks['otel_spans'] / calls:.0f} span/call, {attributes} attributes")
    if summary.get("metrics"):
        parts.append("duration metric")
    if checks.get("apm_calls_in_spans"):
        spans, covered = checks["apm_spans"], checks["apm_calls_in_spans"]
        text = f"APM: {covered / calls:.0f} span/call"
        if spans != covered:
            text += f" ({spans} sent after compression)"
        parts.append(text)
    elif checks.get("apm_transactions"):
        parts.append("APM transactions only")
    return "; ".join(parts) or "nothing"


def _weaviate_table(results: Dict[str, Any]) -> List[str]:
    wv = results["weaviate"]
    stats = wv["cpu"]["stats"]
    ops = wv["operations"]
    labels = _labels(results, "weaviate")
    header = (
        "| configuration | "
        + " | ".join(f"`{op}` µs/call (added ± 95%)" for op in ops)
        + " | recorded |"
    )
    rows = [header, "|---|" + "---:|" * len(ops) + "---|"]
    for name, label in labels.items():
        cells = []
        for op in ops:
            entry = stats[name][op]
            added = f" ({_plus_minus(entry)})" if "overhead_us" in entry else ""
            cells.append(f"{_us(entry['us_per_call'])}{added}")
        rows.append(
            f"| {label} | " + " | ".join(cells) + f" | {_recorded(results, 'weaviate', name)} |"
        )
    return rows


def _budget_table(results: Dict[str, Any]) -> List[str]:
    rows = [
        "| budget | limit | measured (95% interval) | SDK floor (95% interval) | margin | result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for verdict in budgets(results):
        unit = verdict["unit"]
        digits = 3 if unit != "µs" else 1
        pct = verdict["margin_pct_of_limit"]
        margin = f"{verdict['margin']:.{digits}f} {unit}"
        if pct is not None and unit == "µs":
            margin += f" ({pct:.0f}% of the limit)"
        note = f" — {verdict['note']}" if verdict["note"] else ""
        result = "PASS" if verdict["pass"] else "FAIL"
        if verdict["out_of_reach"]:
            result = "FAIL: out of reach, the SDK floor alone is over the limit"
        if not verdict["conclusive"]:
            result += " (within noise)"
        measured = f"{verdict['measured']:.{digits}f} {unit}"
        if verdict["measured_ci95"] is not None:
            measured += f" ({_interval(verdict['measured_ci95'])})"
        floor = "—"
        if verdict["floor"] is not None:
            floor = f"{verdict['floor']:.1f} {unit} ({_interval(verdict['floor_ci95'])})"
        rows.append(
            f"| {verdict['budget']}{note} | {verdict['limit']:.{digits}f} {unit} | "
            f"{measured} | {floor} | {margin} | {result} |"
        )
    return rows


def _precise_calls(results: Dict[str, Any]) -> int:
    for client in ("elasticsearch", "weaviate"):
        exact = results.get(client, {}).get("precise")
        if exact:
            return int(exact["calls"])
    return 0


def _precise_table(results: Dict[str, Any]) -> List[str]:
    rows: List[str] = []
    for client in ("elasticsearch", "weaviate"):
        exact = results.get(client, {}).get("precise")
        if not exact:
            continue
        ops = results[client]["operations"]
        labels = _labels(results, client)
        if rows:
            rows.append("")
        rows += [
            f"| {client} configuration | "
            + " | ".join(f"`{op}` instructions/call (added: instructions, µs)" for op in ops)
            + " |",
            "|---|" + "---:|" * len(ops),
        ]
        for name, per_op in exact["instructions"].items():
            cells = []
            for op in ops:
                cell = f"{per_op[op]:,.0f}"
                if name != BASELINE:
                    added = precise_added(results, client, name, BASELINE, op)
                    if added is not None:
                        cell += f" ({added[0]:+,.0f}, {added[1]:+.1f} µs)"
                cells.append(cell)
            rows.append(f"| {labels[name]} | " + " | ".join(cells) + " |")
    return rows


def _concurrency_table(results: Dict[str, Any], client: str) -> List[str]:
    run = results[client]["concurrency"]
    op = run["operation"]
    labels = _labels(results, client)
    rows = [
        f"{client.capitalize()} `{op}`, {run['in_flight']} calls in flight "
        f"({run['calls_per_block']} calls per block):",
        "",
        "| configuration | CPU µs/call | added µs/call | spans with a parent | spans/call |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, per_op in run["stats"].items():
        entry = per_op[op]
        added = _signed(entry["overhead_us"]) if "overhead_us" in entry else "—"
        checks = run["checks"][name]
        summary = run["summaries"].get(name, {})
        spans = checks.get("otel_spans") or checks.get("apm_calls_in_spans") or 0
        parented = summary.get("spans_with_parent", checks.get("apm_spans_not_under_transaction"))
        if not spans:
            parented = "—"
        rows.append(
            f"| {labels[name]} | {_us(entry['us_per_call'])} | {added} | {parented} | "
            f"{spans / checks['calls']:.2f} |"
        )
    return rows


def _memory_table(results: Dict[str, Any]) -> List[str]:
    rows = [
        "| run | calls | RSS: after warm-up → half-way → end | growth, second half | peak RSS | "
        "live allocations | gc-tracked objects |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for client in ("elasticsearch", "weaviate"):
        for name, run in (results.get(client, {}).get("memory") or {}).items():
            points = _halves(run)
            rss = "—"
            if points[0]["rss_bytes"] is not None:
                rss = " → ".join(f"{p['rss_bytes'] / 2**20:.1f}" for p in points) + " MiB"
            blocks = " → ".join(f"{p['allocated_blocks']:,}" for p in points)
            objects = " → ".join(f"{p['gc_objects']:,}" for p in points)
            rows.append(
                f"| {client} `{run['operation']}`, {name} | {run['calls']:,} | {rss} | "
                f"{retained_bytes_per_call(run):.1f} bytes/call | "
                f"{peak_rss(run) / 2**20:.1f} MiB | {blocks} | {objects} |"
            )
    return rows


def markdown(results: Dict[str, Any]) -> str:
    settings = results["settings"]
    env = results["environment"]
    lines = [
        f"Measured {env['date']} on {env['cpus']} x {env['cpu']}, Python {env['python']}, "
        f"commit {env['commit']}; `make bench` took {results.get('duration_s', 0):.0f} s"
        + (" (**--quick smoke run: the numbers mean nothing**)" if settings.get("quick") else "")
        + ".",
        "",
        "CPU µs/call: median over rounds of a block's client-process CPU time per call. Added: "
        "median over rounds of (block - the baseline's block of the same round), with the 95% "
        "bootstrap interval of that median: how far this machine's noise could move it.",
        "",
    ]
    if "elasticsearch" in results:
        rounds = settings["rounds"]
        lines += [
            f"### Elasticsearch `search` ({rounds} rounds x {settings['calls']} calls)",
            "",
            *_es_table(results),
            "",
        ]
        stats = results["elasticsearch"]["cpu"]["stats"]
        for name in ("ours-apm", "ours-both", "apm-agent"):
            entry = stats.get(name, {}).get("search", {})
            if "overhead_vs_apm_us" in entry:
                lines.append(
                    f"- {_labels(results, 'elasticsearch')[name]}: "
                    f"{_signed(entry['overhead_vs_apm_us'])} µs/call over the agent's "
                    f"transactions alone (`{APM_REFERENCE}`)."
                )
        lines.append("")
    if "weaviate" in results:
        lines += [
            f"### Weaviate ({settings['weaviate_rounds']} rounds x {settings['calls']} calls "
            "per operation)",
            "",
            *_weaviate_table(results),
            "",
        ]
    precise_rows = _precise_table(results)
    if precise_rows:
        lines += [
            "### Instructions per call (callgrind)",
            "",
            "User-space instructions per call, counted by callgrind over one block of "
            f"{_precise_calls(results)} calls in a fresh process with a fixed hash seed "
            "(repeatable to a few instructions a call, unlike CPU time here). µs: the added instructions at the baseline's own "
            "rate on this machine (its instructions per call / its CPU µs per call).",
            "",
            *precise_rows,
            "",
        ]
    lines += ["### Budget", "", *_budget_table(results), ""]
    lines += ["### Concurrency", ""]
    for client in ("elasticsearch", "weaviate"):
        if client in results:
            lines += [*_concurrency_table(results, client), ""]
    lines += ["### Memory", "", *_memory_table(results), ""]
    return "\n".join(lines)


# -- plot --------------------------------------------------------------------------------------
def plot(results: Dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [client for client in ("elasticsearch", "weaviate") if client in results]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 4.2 * len(panels)), squeeze=False)
    for ax, client in zip(axes[:, 0], panels):
        data = results[client]
        stats = data["cpu"]["stats"]
        ops = data["operations"]
        labels = _labels(results, client)
        names = [name for name in labels if name != BASELINE]
        height = 0.8 / len(ops)
        for index, op in enumerate(ops):
            ys = [row + index * height for row in range(len(names))]
            values = [stats[name][op]["overhead_us"] for name in names]
            low = [v - stats[n][op]["overhead_ci95_us"][0] for v, n in zip(values, names)]
            high = [stats[n][op]["overhead_ci95_us"][1] - v for v, n in zip(values, names)]
            ax.barh(
                ys,
                values,
                height=height,
                xerr=[[max(0.0, x) for x in low], [max(0.0, x) for x in high]],
                label=f"{op} (baseline {stats[BASELINE][op]['us_per_call']:.0f} µs)",
                capsize=2,
            )
        ax.set_yticks([row + 0.4 - height / 2 for row in range(len(names))])
        ax.set_yticklabels([labels[name] for name in names], fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.8)
        ax.axvline(QUIET_US, color="grey", linestyle=":", label=f"{QUIET_US:g} µs budget (quiet)")
        if client == "elasticsearch":
            half = stats["es-recording"]["search"]["overhead_us"] * OTEL_RECORDING_SHARE
            ax.axvline(half, color="red", linestyle="--", label="½ of elasticsearch-py recording")
        else:
            for op in ops:
                limit = stats[BASELINE][op]["us_per_call"] * WEAVIATE_RECORDING_SHARE
                ax.axvline(limit, color="red", linestyle="--", linewidth=0.6)
            ax.plot([], [], color="red", linestyle="--", label="5% of the call, per operation")
        ax.set_xlabel("CPU µs added per call over no tracing (median, 95% interval)")
        ax.set_title(f"{client.capitalize()}: client CPU added per call")
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- files -------------------------------------------------------------------------------------
def write(results: Dict[str, Any], out: Path, docs: Optional[Path]) -> None:
    """results.json, results.md, overhead.png; and, with ``docs``, the performance page's table."""
    out.mkdir(parents=True, exist_ok=True)
    results = dict(results, budgets=budgets(results))
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    text = markdown(results)
    (out / "results.md").write_text(text + "\n")
    plot(results, out / "overhead.png")
    if docs is None:
        return
    (docs / "img").mkdir(exist_ok=True)
    shutil.copyfile(out / "overhead.png", docs / "img" / "overhead.png")
    page = docs / "performance.md"
    if page.exists():
        content = page.read_text()
        start, end = content.find(DOCS_START), content.find(DOCS_END)
        if 0 <= start < end:
            content = content[: start + len(DOCS_START)] + "\n\n" + text + "\n" + content[end:]
            page.write_text(content)


def main() -> None:
    root = Path(__file__).resolve().parent
    results = json.loads((root / "results" / "results.json").read_text())
    write(results, root / "results", root.parent / "docs")


if __name__ == "__main__":
    main()
