"""The picture and the tables of docs/performance.md: instructions a call adds over the
uninstrumented call.

Reads one or more ``benchmarks.callgrind`` JSON results (a later file's configurations replace an
earlier one's: peers and floors from a full run, ours from a run of ours alone) and draws, per
client and operation, what each configuration adds to the uninstrumented call; ``--md`` also
writes the tables::

    .venv/bin/python -m benchmarks.callgrind_plot FULL.json --out docs/img/callgrind.png --md T.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

#: (configuration, label, kind): what is drawn, top to bottom; kind colours the bar.
ROWS: Tuple[Tuple[str, str, str], ...] = (
    ("ours-otel-no-sdk", "ours, no SDK", "ours"),
    ("es-default", "elasticsearch-py, no SDK", "peer"),
    ("floor-wrapt", "floor: wrapt at our patch points", "floor"),
    ("ours-otel-sampled-out", "ours, sampled out", "ours"),
    ("es-sampled-out", "elasticsearch-py, sampled out", "peer"),
    ("floor-sampled-out", "floor: SDK, sampled out + metric", "floor"),
    ("ours-otel", "ours, recording", "ours"),
    ("floor-recording", "floor: SDK span + metric", "floor"),
    ("ours-otel-no-meter", "ours, recording, no MeterProvider", "ours"),
    ("es-recording", "elasticsearch-py, recording (no metric)", "peer"),
    ("floor-span", "floor: SDK span alone", "floor"),
    ("ours-apm", "ours, Elastic APM", "ours"),
    ("apm-agent", "Elastic APM agent's own spans", "peer"),
)
COLOURS = {"ours": "#1f77b4", "peer": "#ff7f0e", "floor": "#9e9e9e"}


def merged(paths: Sequence[Path]) -> Dict[str, Dict[str, Dict[str, float]]]:
    """client -> configuration -> operation -> instructions per call."""
    found: Dict[str, Dict[str, Dict[str, float]]] = {}
    for path in paths:
        data = json.loads(path.read_text())
        for client in data["clients"]:
            found.setdefault(client, {}).update(data[client]["instructions_per_call"])
    return found


def added(runs: Dict[str, Dict[str, float]], name: str, op: str) -> Optional[float]:
    value, base = runs.get(name, {}).get(op), runs.get("baseline", {}).get(op)
    return None if value is None or base is None else value - base


def plot(paths: Sequence[Path], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = merged(paths)
    panels: List[Tuple[str, str]] = [
        (client, op) for client, runs in data.items() for op in sorted(runs.get("baseline", {}))
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.2 + 0.28 * len(ROWS) * len(panels)))
    for ax, (client, op) in zip(axes if len(panels) > 1 else [axes], panels):
        rows = [(label, kind, added(data[client], name, op)) for name, label, kind in ROWS]
        rows = [row for row in rows if row[2] is not None]
        ax.barh(
            [label for label, _, _ in rows],
            [value / 1000 for _, _, value in rows],  # type: ignore[operator]
            color=[COLOURS[kind] for _, kind, _ in rows],
        )
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_title(f"{client} {op}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    axes_list = list(axes) if len(panels) > 1 else [axes]
    axes_list[-1].set_xlabel("thousand instructions added per call over the uninstrumented call")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


#: The tables' columns: (heading, our configuration, the peers' and floors' beside it).
COLUMNS: Tuple[Tuple[str, str, Tuple[Tuple[str, str], ...]], ...] = (
    (
        "no SDK",
        "ours-otel-no-sdk",
        (("elasticsearch-py, no SDK", "es-default"), ("wrapt at our patch points", "floor-wrapt")),
    ),
    (
        "sampled out",
        "ours-otel-sampled-out",
        (("elasticsearch-py", "es-sampled-out"), ("SDK floor", "floor-sampled-out")),
    ),
    (
        "sampled out, no MeterProvider",
        "ours-otel-sampled-out-no-meter",
        (("SDK floor", "floor-sampled-out-no-meter"),),
    ),
    ("recording", "ours-otel", (("SDK floor", "floor-recording"),)),
    (
        "recording, no MeterProvider",
        "ours-otel-no-meter",
        (("elasticsearch-py", "es-recording"), ("SDK floor: the span alone", "floor-span")),
    ),
    (
        "Elastic APM",
        "ours-apm",
        (("the agent's own spans", "apm-agent"), ("agent transactions alone", "apm-transactions")),
    ),
)


def tables(paths: Sequence[Path]) -> str:
    """Per client and operation: what ours and the peers and floors add to the uninstrumented call."""
    data = merged(paths)
    lines: List[str] = []
    for client, runs in data.items():
        for op in sorted(runs.get("baseline", {})):
            base = runs["baseline"][op]
            lines += [
                f"### {client} `{op}` (uninstrumented: {base:,.0f} instructions a call)",
                "",
                "| configuration | ours | beside it |",
                "|---|---:|---|",
            ]
            for heading, ours, others in COLUMNS:
                value = added(runs, ours, op)
                if value is None:
                    continue
                beside = [
                    f"{label} {found:+,.0f}"
                    for label, name in others
                    if (found := added(runs, name, op)) is not None
                ]
                lines.append(f"| {heading} | {value:+,.0f} | {'; '.join(beside) or '—'} |")
            lines.append("")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/img/callgrind.png"))
    parser.add_argument("--md", type=Path, default=None, help="also write the tables here")
    args: Any = parser.parse_args(argv)
    plot(args.results, args.out)
    if args.md is not None:
        args.md.write_text(tables(args.results) + "\n")


if __name__ == "__main__":
    main()
