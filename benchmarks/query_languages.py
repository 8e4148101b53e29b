"""What reading a query language's statement costs, counted with callgrind (as ``benchmarks.floors``).

Each piece runs ``N`` and ``2N`` times in a fresh interpreter under callgrind; the difference
divided by ``N`` is its cost, the loop's own taken off. This runs only when a span records (the
details readers); a sampled-out or unrecorded call reads nothing of the statement.

    .venv/bin/python -m benchmarks.query_languages --out benchmarks/results/query-languages.md
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Tuple

from benchmarks import floors

ROOT = Path(__file__).resolve().parent.parent

#: 200 characters of ES|QL: a source, strings, numbers, an ``IN`` list.
ESQL = (
    'FROM movies | WHERE title == "The Empire Strikes Back" AND year > 1979 AND rating >= 8.5 '
    "| EVAL decade = year - year % 10 | STATS n = COUNT(*) BY decade, genre "
    '| WHERE genre IN ("sci-fi", "drama") | SORT n DESC'
)[:200]
ESQL_BOOLEANS = ESQL[:180] + " AND seen == true"
#: The same against an index whose name is not letters and digits alone, as most are.
ESQL_PATTERN = ESQL.replace("FROM movies", "FROM movies-2024")[:200]
SQL = (
    "SELECT title, year FROM movies WHERE title = 'The Empire Strikes Back' AND year > 1979 "
    "AND rating >= 8.5 AND genre IN ('sci-fi', 'drama') ORDER BY year DESC LIMIT 10"
)
GRAPHQL = (
    '{ Get { Movie(where: {path: ["title"], operator: Equal, valueText: "The Empire Strikes '
    'Back"}, limit: 10) { title year _additional { id distance } } } }'
)

#: The same statement with other literals, as a service sends them: the head (``FROM movies``)
#: is the same, the strings and numbers are not.
ESQL_VARIANTS = [
    ESQL.replace("Back", f"Bac{i}").replace("1979", f"19{70 + i}").replace("8.5", f"{i}.5")
    for i in range(3)
]

SETUP = f"""
import itertools
from instrumentation import _query_languages
from instrumentation._query_languages import read, _ESQL
ESQL = {ESQL!r}
ESQL_BOOLEANS = {ESQL_BOOLEANS!r}
ESQL_PATTERN = {ESQL_PATTERN!r}
SQL = {SQL!r}
GRAPHQL = {GRAPHQL!r}
REST = ESQL.partition(" | ")[2]
VARIANTS = itertools.cycle({ESQL_VARIANTS!r})
"""
#: An ES|QL head never seen before: none kept (``_HEADS``), every call reads its own.
NO_HEADS = "_query_languages._HEADS_MAX = 0; _query_languages._HEADS.clear()"

#: (label, statement, what to take off it: a statement of its own, not in the table).
PIECES: List[Tuple[str, str, str]] = [
    ("loop", "pass", ""),
    (
        f"ES|QL, {len(ESQL)} characters: the whole read (text, collection, summary)",
        "read('esql', ESQL, 'sanitize', 2048)",
        "",
    ),
    (
        f"ES|QL, {len(ESQL)} characters, its literals other at every call (three statements)",
        "read('esql', next(VARIANTS), 'sanitize', 2048)",
        "next(VARIANTS)",
    ),
    (
        f"ES|QL, {len(ESQL)} characters, its head (`FROM movies`) not seen before",
        f"{NO_HEADS}; read('esql', ESQL, 'sanitize', 2048)",
        NO_HEADS,
    ),
    (
        f"ES|QL, {len(ESQL_PATTERN)} characters, its index `movies-2024`: the whole read",
        "read('esql', ESQL_PATTERN, 'sanitize', 2048)",
        "",
    ),
    (
        "ES|QL: its one regular-expression pass alone (literals to ?)",
        "_ESQL.replaced(REST)",
        "",
    ),
    (
        f"ES|QL with a boolean, {len(ESQL_BOOLEANS)} characters: the whole read",
        "read('esql', ESQL_BOOLEANS, 'sanitize', 2048)",
        "",
    ),
    (f"SQL, {len(SQL)} characters: the whole read", "read('sql', SQL, 'sanitize', 2048)", ""),
    (
        f"GraphQL, {len(GRAPHQL)} characters: the whole read",
        "read('graphql', GRAPHQL, 'sanitize', 2048)",
        "",
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "query-languages.md")
    )
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=2, help="callgrind processes at once (2)")
    options = parser.parse_args()
    floors._SETUP = SETUP  # the same counting, with this setup
    started = time.time()
    statements = sorted({statement for _, *both in PIECES for statement in both if statement})
    with ThreadPoolExecutor(options.jobs) as pool:
        results = pool.map(lambda statement: floors.per_call(statement, options.calls), statements)
        costs = dict(zip(statements, results))
    loop = costs["pass"]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
        f"{options.calls} and {2 * options.calls} calls a piece ({time.time() - started:.0f} s). "
        f"Instructions a call, the loop's own {loop:,.0f} taken off.",
        "",
        "| piece | instructions |",
        "|---|---:|",
    ]
    for label, statement, taken_off in PIECES[1:]:
        cell = label.replace("|", "\\|")  # ES|QL in a Markdown table
        cost = costs[statement] - (costs[taken_off] if taken_off else loop)
        lines.append(f"| {cell} | {cost:,.0f} |")
    Path(options.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
