"""Query languages read, not erased: ES|QL, SQL, EQL, PPL and GraphQL statements as ``db.query.text``.

A statement in one of these languages travels as one JSON string (``{"query": "FROM movies | ..."}``),
which the JSON sanitiser (``_query``) can only turn into ``"?"``. Here each language has a small
tokenizer instead: one compiled regular expression, an alternation of what must change (string,
number and boolean literals, comments) and of what must stay although it looks like them (quoted
identifiers, the index patterns a source command names), scanned once by ``re.sub``. Everything
the expression does not match (keywords, commands, functions, field names, operators, parameter
placeholders such as ``?`` and ``?name``) is copied as it is, in C. A statement with none of the
characters that start a kept or dropped token (the common case: no backquote, no comment) has its
literals replaced by a plain ``?``, with no Python call per match; otherwise Python runs once per
match, never per character. What it costs: ``benchmarks/results/query-languages.md``.

What becomes ``?``: strings (single, double and triple quoted, escapes included; one left open runs
to the end of the text, so a statement cut short never shows half a literal), numbers (with their
exponent and unit: ``1.5e3``, ``1h``), ``true`` and ``false``. What goes: comments. What stays:
``null`` (``IS NULL`` is structure, not a value), backquoted identifiers (ES|QL, SQL, EQL, PPL),
double-quoted identifiers in SQL, the sources of ``FROM`` (ES|QL, SQL), ``source=`` (PPL) and
GraphQL's names, variables and enum values. A quoted identifier left open, or a quote that reads
differently with and without backslash escapes (Elasticsearch SQL doubles a quote; OpenSearch's
SQL and PPL escape it with a backslash too), turns the rest of the text into one ``?``: what is
a literal there depends on the dialect, and a span may lose structure, never show a literal.
A list of placeholders (``IN (?, ?, ?)``, a vector in a GraphQL ``nearVector``) collapses to
one ``?``, as a list of literals does in the JSON sanitiser (a comma after a space, ``1 , 2``,
is no list's).
Parameters (``params=``) travel beside the statement and are never read.

Each reader also names the statement's single collection (``FROM movies``; ``FROM movies, logs``
names two: none) and a low-cardinality summary for ``db.query.summary`` and the span name, in the
conventions' ``{operation} {target}`` form: ``SELECT movies`` (SQL), ``FROM movies`` (ES|QL: its
source command is its operation), ``search movies`` (PPL, whose first command is ``search``),
``Get Movie`` (Weaviate GraphQL). EQL names no index in its text (the index is a path part of the
call), so it keeps the call's own summary.

Nothing here raises: a statement that is not text becomes ``?``.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Callable, Dict, List, Match, Optional, Pattern, Tuple

from instrumentation._query import PLACEHOLDER, bound

#: ``db.query.summary`` is bounded by the conventions.
SUMMARY_MAX_LENGTH = 255
#: Statements longer than this many times ``max_length`` are read only that far: the text is cut
#: to ``max_length`` anyway, and the rest would only be scanned to be thrown away.
_READ_FACTOR = 4

# -- tokens ---------------------------------------------------------------------------------------
# Every alternative of a tokenizer starts with one literal character, so ``re`` finds the next
# candidate with its set-of-first-characters scan and skips the alternatives that cannot start
# there with one comparison each; what must be checked before a token (``field1`` holds no number)
# is a look-behind placed after that first character.
_WORD = r"[\w.?$@`]"  # what a number or a boolean never follows: it would be part of a name


# A repetition of a group costs ``re`` a frame per round; one of a single character class is a
# tight loop in C. So a quoted token is written as the run of its plain characters, then what
# ends the run: the closing quote (the common case, tried first), an escape and the rest of the
# token, or the end of the text (a token left open).
def _escaped(quote: str) -> str:
    """A token quoted by ``quote``, backslash escapes inside."""
    plain = rf"[^{quote}\\]*"
    return rf"{quote}{plain}(?:{quote}|\\[\s\S]{plain}(?:\\[\s\S]{plain})*{quote}?|)"


def _doubled(quote: str) -> str:
    """A token quoted by ``quote``, the quote doubled inside (SQL's ``'it''s'``)."""
    plain = f"[^{quote}]*"
    return f"{quote}{plain}(?:{quote}(?!{quote})|(?:{quote}{quote}{plain})+{quote}?|)"


def _either(quote: str, closed: bool = False) -> str:
    """A token quoted by ``quote`` that is one whether the quote is doubled inside (Elasticsearch
    SQL, ES|QL's backquotes) or escaped by a backslash too (OpenSearch's SQL and PPL lexers:
    ``'(\\. | '' | ~['\\])*'``); what is inside under either reading is inside here.

    The readings differ only where a backslash stands before the quote (``'a\\'b'``: one string,
    or ``'a\\'``, a name ``b`` and an open string): from there on what is a literal depends on
    the reading, so the token runs to the end of the text. ``closed``: only a token that ends
    (a name kept as it is); an open or ambiguous one is left to ``_open``, which replaces it.
    """
    plain = rf"[^{quote}\\]*"
    body = rf"{quote}{plain}(?:(?:{quote}{quote}|\\[^{quote}]){plain})*"
    if closed:
        return rf"{body}{quote}(?!{quote})"
    return rf"{body}(?:{quote}(?!{quote})|\\{quote}[\s\S]*|\\?\Z)"


def _open(quote: str) -> str:
    """What is left of a name quoted by ``quote`` once ``_either(quote, closed=True)`` did not
    match: open, or read differently with and without backslash escapes. A literal to the end:
    never a name kept with a literal inside it."""
    return rf"{quote}[\s\S]*"


_DOUBLE = _escaped('"')
_SINGLE = _escaped("'")
_TRIPLE = r'"""[\s\S]*?(?:"""|\Z)'
#: GraphQL's block string, where ``\\"""`` is an escaped ``"""``, not its end.
_GRAPHQL_TRIPLE = r'"""(?:[^"\\]+|\\"""|\\|"(?!""))*(?:"""|\Z)'
#: EQL's raw strings: no escape inside, a backslash is a backslash (``?"C:\\dir\\"``).
_RAW = [r'\?"[^"]*"?', r"\?'[^']*'?"]
_SQL_SINGLE = _either("'")
_SQL_DOUBLE = _either('"', closed=True)
_BACKQUOTED = _either("`", closed=True)
#: PPL's strings, single or double quoted: as SQL's.
_PPL_SINGLE = _either("'")
_PPL_DOUBLE = _either('"')
_LINE_COMMENT = r"//[^\n]*"
_SQL_LINE_COMMENT = r"--[^\n]*"
_HASH_COMMENT = r"#[^\n]*"
_BLOCK_COMMENT = r"/\*[\s\S]*?(?:\*/|\Z)"
#: The rest of a number: name characters, and a sign after an exponent's ``e`` (``1.5e-3``); the
#: sign's alternative starts with its class, so a number without one skips it in one comparison.
_NUMBER_REST = r"[\w.]*(?:[+-](?<=[eE][+-])(?=\d)(?:[\w.]|(?<=[eE])[+-](?=\d))*|)"
#: A number (``1.5e-3``, ``0x1F``, ``1h``, ``.5``) not inside a name (``field1``, ``?1``, ``$v2``).
_NUMBERS = [f"{digit}(?<!{_WORD}{digit}){_NUMBER_REST}" for digit in "0123456789"] + [
    rf"\.(?<!{_WORD}\.)\d{_NUMBER_REST}"
]


def _cased(word: str, lookbehind: str = "") -> List[str]:
    """``word`` in any case, as alternatives that each start with one literal character."""
    rest = "".join(f"[{c.lower()}{c.upper()}]" for c in word[1:])
    return [
        f"{first}{f'(?<!{lookbehind}{first})' if lookbehind else ''}{rest}"
        for first in (word[0].lower(), word[0].upper())
    ]


_BOOLEANS = [
    f"{alternative}(?!\\w)" for word in ("true", "false") for alternative in _cased(word, _WORD)
]


class _Tokenizer:
    """One language's tokens: kept as they are, dropped (a space), or a literal (``?``)."""

    def __init__(
        self, keep: List[str], drop: List[str], literal: List[str], unkept: List[str]
    ) -> None:
        """``unkept``: literals that start as a kept token does (an open quoted name)."""
        alternatives = [f"{a}()" for a in keep] + [f"{a}()" for a in drop]
        self.pattern = re.compile("|".join(alternatives + literal + unkept + _BOOLEANS))
        kept = len(keep)

        def replace(match: Match[str]) -> str:
            kind = match.lastindex
            if kind is None:
                return PLACEHOLDER
            return match[0] if kind <= kept else " "

        self.replace = replace
        self.literals = _literals(literal)
        #: For ASCII text without a backslash (the common case): a string is then a quote, a run
        #: of anything but that quote (a tight loop in C, not a character-class test per
        #: character) and the closing quote; ``\w`` a table look-up, not a Unicode one.
        self.plain_literals: Pattern[str] = _literals([_PLAIN.get(a, a) for a in literal], re.ASCII)
        self.triggers = "".join(sorted({a[0] for a in keep + drop}))

    def scan(self, statement: str, max_length: int, start: bool = True) -> str:
        """The statement with literals replaced and comments dropped; ``start``: it starts the
        text (else it continues one, and keeps its leading space)."""
        if len(statement) > _READ_FACTOR * max_length:
            statement = statement[: _READ_FACTOR * max_length]
        for trigger in self.triggers:
            if trigger in statement:
                text = self.pattern.sub(self.replace, statement)  # comments: spaces
                text = text.strip() if start else text.rstrip()
                if "?," in text:  # a list of placeholders left, ``IN (?, ?name)``: one
                    return _collapsed(text)
                return text
        return self.replaced(statement)  # lists already one ``?`` each

    def replaced(self, statement: str) -> str:
        """The statement with its literals replaced, when it has nothing to keep or drop."""
        if statement.isascii() and "\\" not in statement:
            return self.plain_literals.sub(PLACEHOLDER, statement)
        return self.literals.sub(PLACEHOLDER, statement)


#: Strings in a text without a backslash: the same tokens as ``_DOUBLE`` and ``_SINGLE`` there,
#: and as ``_either``'s (a quote doubled inside, no escape).
_PLAIN = {
    _DOUBLE: '"[^"]*"?',
    _SINGLE: "'[^']*'?",
    _SQL_SINGLE: _doubled("'"),
    _PPL_DOUBLE: _doubled('"'),
}


def _literals(literal: List[str], flags: int = 0) -> Pattern[str]:
    """One pass for a statement with nothing to keep or drop (no backquote, no comment): every
    match is a literal, so a plain ``?`` replaces it, with no Python call per match.

    Booleans are read in the same pass, their letters before what stands before them (most
    ``t`` and ``f`` start no boolean, and the second letter tells). A boolean right after a
    closing quote is not one here: that quote was a string's, and a ``?`` (a name's character)
    stands before the word once the string is replaced. A list is one match, whatever it holds
    of literals, negative numbers and ``?`` parameters (``"a","b", -3, ?``), as the ``?, ?, ?``
    it would become is one ``?`` (``_collapsed``): the text this pass returns has no list left
    to look for. A comma after a space (``1 , 2``) is read as no list's, and left as it is.
    """
    quotes = "".join(sorted({a[0] for a in literal} & {'"', "'"}))
    before = f"[{_WORD[1:-1]}{quotes}]"
    booleans = [
        f"{first}{rest}(?!\\w)(?<!{before}[\\s\\S]{{{len(word)}}})"
        for word in ("true", "false")
        for rest in ["".join(f"[{c}{c.upper()}]" for c in word[1:])]
        for first in (word[0], word[0].upper())
    ]
    token = "|".join(literal + booleans)
    item = rf",\s*-?(?:{token}|\?)"  # a list's next item
    # One group of alternatives that each start with a literal character, ``?`` the last (a
    # parameter, replaced by itself unless a list follows): ``re`` finds candidates by their
    # first character only when every alternative at the top starts with one. What follows a
    # literal is tried as a branch that starts with ``,`` (one comparison when no list
    # follows) before any repetition.
    return re.compile(rf"(?:{token}|\?(?=,))(?:{item}(?:{item})*|)", flags)


def _collapsed(text: str) -> str:
    """``text`` with each list of placeholders (``?, ?, ?``) made one ``?``."""
    while "?, ?" in text:  # the common spacing: halved per round, in C
        text = text.replace("?, ?", PLACEHOLDER)
    if "?," in text:  # other spacing, negative numbers (a vector): the regular expression
        text = _PLACEHOLDER_LIST.sub(PLACEHOLDER, text)
    return text


#: Several placeholders in a row, as a list: one. A comma after a space is no list's, as in the
#: plain pass (``_literals``).
_PLACEHOLDER_LIST = re.compile(r"\?(?:,\s*-?\?)+")


def _split(sources: str) -> List[str]:
    return [source.strip() for source in sources.split(",")] if "," in sources else [sources]


def _unquote(name: str) -> str:
    if len(name) > 1 and name[0] == name[-1] and name[0] in '"`':
        return name[1:-1].replace(name[0] * 2, name[0])
    return name


def _named(operation: str, targets: List[str]) -> Tuple[Optional[str], str]:
    """(the single collection, the summary)."""
    if len(targets) == 1 and targets[0][0] not in '"`':  # the common case, without a frame
        return targets[0], f"{operation} {targets[0]}"[:SUMMARY_MAX_LENGTH]
    names = [_unquote(target) for target in targets]
    collection = names[0] if len(set(names)) == 1 else None
    summary = " ".join((operation, *names)) if names else operation
    return collection, summary[:SUMMARY_MAX_LENGTH]


#: A statement read: (its sanitised text, its single collection, its summary). A plain tuple: a
#: named one costs a reader ~1,800 instructions more to make (``tuple.__new__`` on the subclass).
Statement = Tuple[str, Optional[str], Optional[str]]


def _bounded(read: Statement, max_length: int) -> Statement:
    """``read`` with its text cut to ``max_length`` and encodable (``bound``), as ``read``
    returns every statement; a reader's fast path that knows its text fits skips this."""
    text = read[0]
    if len(text) <= max_length and text.isascii():
        return read
    return (bound(text, max_length), read[1], read[2])


def _bounding(reader: Callable[[str, int], Statement]) -> Callable[[str, int], Statement]:
    """``reader``, its text bounded (``_bounded``)."""

    @functools.wraps(reader)
    def bounded(statement: str, max_length: int) -> Statement:
        return _bounded(reader(statement, max_length), max_length)

    return bounded


# -- ES|QL ----------------------------------------------------------------------------------------
#: An unquoted index pattern (``movies``, ``logs-*``, ``.ds-logs-2024.01.01``, ``<logs-{now/d}>``,
#: ``cluster:index``). A ``/`` is part of one (``{now/d}``) unless a comment starts there: the
#: comment is dropped, never kept as a name (``FROM movies//secret``), as ES|QL's lexer reads it.
_SOURCE = r"[^\s,|\"'`()/]+(?:/(?![/*])[^\s,|\"'`()/]*)*"
_ESQL_SOURCE = rf'(?:"[^"\\]*(?:\\[\s\S][^"\\]*)*"|{_SOURCE})'
_ESQL_SOURCES = rf"{_ESQL_SOURCE}(?:\s*,\s*{_ESQL_SOURCE})*"
_ESQL_COMMAND = rf"((?i:(FROM|TS|METRICS))\s+({_ESQL_SOURCES})|[A-Za-z_]+)"
#: The source command that starts a statement (comments before it skipped): its sources are
#: names, kept as they are, however many digits an index name has.
#: A comment here is read whole or not at all: the line comment must reach the end of its line,
#: the block comment cannot run past its first ``*/``, so a backtracking ``re`` can never find
#: the command inside a comment (``// password hunter2`` is no command ``r``).
_ESQL_HEAD = re.compile(rf"(?:\s+|//[^\n]*(?![^\n])|/\*(?:[^*]|\*(?!/))*\*/)*{_ESQL_COMMAND}")
#: The same when the statement starts with its command (the common case): no frame spent on the
#: whitespace and comments that are not there.
_ESQL_COMMAND_FIRST = re.compile(_ESQL_COMMAND)
_ESQL = _Tokenizer(
    [_BACKQUOTED],
    [_LINE_COMMENT, _BLOCK_COMMENT],
    [_TRIPLE, _DOUBLE, _SINGLE, *_NUMBERS],
    [_open("`")],
)

_ESQL_PLAIN = _ESQL.plain_literals

#: The head of the common statement: ``FROM`` in any case, one space and one unquoted index
#: pattern (``movies``, ``logs-*``, ``.ds-logs-2024.01.01``, ``cluster:index``), as
#: ``_ESQL_COMMAND`` reads it (no ``/``: a comment may start there).
_COMMON_HEAD = re.compile(r"(?i:FROM) ([^\s,|\"'`()/]+)")
#: The heads of common statements read so far (``FROM movies``): their source and summary. A
#: service queries a few indices with ever other literals, so its heads repeat where its
#: statements do not; a head holds an index name, never a literal. Bounded: once full, a new
#: head is read each time, as it would be without this.
_HEADS: Dict[str, Tuple[str, str]] = {}
_HEADS_MAX = 512


def _common_head(head: str) -> Optional[Tuple[str, str]]:
    """(source, summary) of a common statement's head (``_COMMON_HEAD``), kept for next time."""
    match = _COMMON_HEAD.fullmatch(head)
    if match is None or len(head) > SUMMARY_MAX_LENGTH:
        return None
    named = (match[1], "FROM " + match[1])
    if len(_HEADS) < _HEADS_MAX:
        _HEADS[head] = named
    return named


def read_esql(statement: str, max_length: int) -> Statement:
    # The common statement, ``FROM movies | ...``: its head (``FROM movies``), read once per
    # index (``_HEADS``), names its collection and its summary; what follows is read by
    # ``_ESQL.scan``'s plain pass, called directly, when it has none of what that pass does not
    # read. Its text is never longer than the statement, so within ``max_length`` it needs no
    # bound. Anything else is read by the head's regular expression (``_read_esql``).
    head, bar, rest = statement.partition(" | ")
    named = _HEADS.get(head) or _common_head(head)
    if (
        named is not None
        and bar
        and len(statement) <= max_length
        and statement.isascii()
        and "/" not in rest  # no comment,
        and "`" not in rest  # no quoted name,
        and "\\" not in rest  # no escape
    ):
        source, summary = named
        return (f"{head} | {_ESQL_PLAIN.sub(PLACEHOLDER, rest)}", source, summary)
    return _bounded(_read_esql(statement, max_length), max_length)


def _read_esql(statement: str, max_length: int) -> Statement:
    head = _ESQL_COMMAND_FIRST.match(statement) or _ESQL_HEAD.match(statement)
    if head is None:
        return (_ESQL.scan(statement, max_length), None, None)
    command, keyword, sources = head.group(1, 2, 3)
    text = command + _ESQL.scan(statement[head.end() :], max_length, False)
    if sources is None:  # ROW, SHOW: no source
        return (text, None, command.upper()[:SUMMARY_MAX_LENGTH])
    if "," in sources or sources[0] == '"':
        collection, summary = _named(keyword.upper(), _split(sources))
    else:  # one plain source, the common case: no call
        collection, summary = sources, f"{keyword.upper()} {sources}"[:SUMMARY_MAX_LENGTH]
    return (text, collection, summary)


# -- SQL (Elasticsearch SQL, OpenSearch SQL) -------------------------------------------------------
#: A table: quoted, or a run of name characters that a comment (``--``, ``/*``) ends.
_SQL_SOURCE = (
    rf"(?:{_SQL_DOUBLE}|{_BACKQUOTED}|(?![\d+\-]|\.\d)"
    r"[^\s,()\"'`;/-]+(?:(?:/(?!\*)|-(?!-))[^\s,()\"'`;/-]*)*)"
)
_SQL_SOURCES = rf"{_SQL_SOURCE}(?:\s*,\s*{_SQL_SOURCE})*"
_SQL = _Tokenizer(
    [
        *(
            f"{keyword}(?!\\w)\\s+{_SQL_SOURCES}"
            for word in ("from", "join", "describe", "desc")
            for keyword in _cased(word, r"[\w.]")
        ),
        _SQL_DOUBLE,
        _BACKQUOTED,
    ],
    [_SQL_LINE_COMMENT, _BLOCK_COMMENT],
    [_SQL_SINGLE, *_NUMBERS],
    [_open('"'), _open("`")],
)
#: The statement's own operation when it is not a query: ``SHOW TABLES``, ``DESCRIBE movies``.
_SQL_HEAD = re.compile(rf"\s*(?:((?i:SHOW)\s+[A-Za-z]+)|(?i:DESCRIBE|DESC)\s+({_SQL_SOURCE}))")
#: The characters ``(?i)`` reads as each first letter below (the long s U+017F is an ``s``; the
#: dotted and dotless I, U+0130 and U+0131, are an ``i``).
_FIRST_LETTERS = {
    "S": "sS\u017f",
    "I": "iI\u0130\u0131",
    "U": "uU",
    "D": "dD",
    "F": "fF",
    "J": "jJ",
}


def _words(words: List[str], tail: str = "") -> List[str]:
    """``words`` in any case, not inside a name, each alternative starting with one literal
    character: ``re`` then finds candidates with its first-character scan, where a look-behind
    first would be tried at every position of the text."""
    return [
        f"{first}(?<![\\w.][\\s\\S])(?i:{word[1:]}){tail}"
        for word in words
        for first in _FIRST_LETTERS[word[0]]
    ]


#: The operations of a query (``SELECT``: the whole match) and the tables its ``FROM`` and
#: ``JOIN`` name (the match's one group).
_SQL_PARTS = re.compile(
    "|".join(
        _words(["SELECT", "INSERT", "UPDATE", "DELETE"])
        + _words(["FROM", "JOIN", "IN"], rf"\s+({_SQL_SOURCES})")
    )
)


_SELECT = re.compile(r"(?i)\bSELECT\b")


def _in_call(text: str, position: int) -> bool:
    """Whether ``position`` is inside a function call's parentheses (not a subquery's)."""
    opened = text.rfind("(", 0, position)
    if opened < 0 or text.rfind(")", opened, position) >= 0:
        return False
    return _SELECT.search(text, opened, position) is None


@_bounding
def read_sql(statement: str, max_length: int) -> Statement:
    text = _SQL.scan(statement, max_length)
    operations: List[str] = []
    targets: List[str] = []
    head = _SQL_HEAD.match(text)
    if head is not None and head[2] is not None:
        operations.append("DESCRIBE")
        targets.append(head[2])
    else:
        if head is not None:
            operations.append(" ".join(head[1].upper().split()))
        for match in _SQL_PARTS.finditer(text, head.end() if head is not None else 0):
            sources = match.lastindex
            if sources is None:
                operations.append(match[0].upper())
            elif match[sources] != PLACEHOLDER and (operations or head is not None):
                keyword = match[0][:2].upper()
                if keyword == "IN" and head is None:
                    continue  # ``IN`` names a table only in ``SHOW COLUMNS IN movies``
                if _in_call(text, match.start()):
                    continue  # ``EXTRACT(YEAR FROM hire_date)``: a field, not a table
                targets.extend(_split(match[sources]))
            if len(operations) + len(targets) > 32:
                break
    if not operations:
        return (text, None, None)
    collection, summary = _named(" ".join(operations), targets)
    return (text, collection, summary)


# -- EQL ------------------------------------------------------------------------------------------
_EQL = _Tokenizer(
    [_BACKQUOTED],
    [_LINE_COMMENT, _BLOCK_COMMENT],
    [*_RAW, _TRIPLE, _DOUBLE, _SINGLE, *_NUMBERS],
    [_open("`")],
)


@_bounding
def read_eql(statement: str, max_length: int) -> Statement:
    return (_EQL.scan(statement, max_length), None, None)


# -- PPL (OpenSearch) -----------------------------------------------------------------------------
_PPL_SOURCE = rf"(?:{_BACKQUOTED}|(?![\d+\-]|\.\d){_SOURCE})"
_PPL_SOURCES = rf"{_PPL_SOURCE}(?:\s*,\s*{_PPL_SOURCE})*"
_PPL = _Tokenizer(
    [*(f"{keyword}\\s*=\\s*{_PPL_SOURCES}" for keyword in _cased("source", r"[\w.]")), _BACKQUOTED],
    [_BLOCK_COMMENT],
    [_PPL_DOUBLE, _PPL_SINGLE, *_NUMBERS],
    [_open("`")],
)
_PPL_SOURCE_CLAUSE = re.compile(rf"(?<![\w.])(?i:source)\s*=\s*({_PPL_SOURCES})")
_PPL_HEAD = re.compile(r"\s*([A-Za-z_]+)")


@_bounding
def read_ppl(statement: str, max_length: int) -> Statement:
    text = _PPL.scan(statement, max_length)
    source = _PPL_SOURCE_CLAUSE.search(text)
    if source is not None:
        collection, summary = _named("search", _split(source[1]))
        return (text, collection, summary)
    head = _PPL_HEAD.match(text)
    return (text, None, head[1].lower() if head else None)


# -- GraphQL (Weaviate) ---------------------------------------------------------------------------
_GRAPHQL = _Tokenizer(
    [r"\$\w+"],
    [_HASH_COMMENT],
    [_GRAPHQL_TRIPLE, _DOUBLE, *_NUMBERS],
    [],
)
_GRAPHQL_TOKENS = re.compile(r"[{}():]|[A-Za-z_]\w*")
_GRAPHQL_OPERATIONS = frozenset({"Get", "Aggregate", "Explore"})


def _graphql_classes(text: str) -> Tuple[List[str], List[str]]:
    """(Weaviate's operations, the classes they name): the fields one level inside ``Get {``
    and ``Aggregate {``, arguments skipped, aliases (``alias: Movie``) read through."""
    operations: List[str] = []
    classes: List[str] = []
    braces = parens = 0
    inside: Optional[int] = None  # the brace depth of the classes of the current operation
    pending: Optional[str] = None  # an operation whose ``{`` comes next
    previous = ""
    for token in _GRAPHQL_TOKENS.findall(text):
        if token == "(":
            parens += 1
        elif token == ")":
            parens = max(parens - 1, 0)
        elif parens:
            pass
        elif token == "{":
            braces += 1
            if pending is not None:
                inside, pending = braces, None
        elif token == "}":
            if inside == braces:
                inside = None
            braces -= 1
        elif token == ":":
            pass
        elif inside is not None and braces == inside:
            if previous == ":" and classes:
                classes[-1] = token  # ``alias: Movie``: the class is after the colon
            else:
                classes.append(token)
        elif inside is None and token in _GRAPHQL_OPERATIONS and braces <= 1:
            operations.append(token)
            pending = token
        previous = token if not parens else previous
        if len(operations) + len(classes) > 32:
            break
    return operations, classes


@_bounding
def read_graphql(statement: str, max_length: int) -> Statement:
    text = _GRAPHQL.scan(statement, max_length)
    operations, classes = _graphql_classes(text)
    if not operations:
        return (text, None, None)
    collection, summary = _named(" ".join(operations), classes)
    return (text, collection, summary)


# -- reading a call -------------------------------------------------------------------------------
READERS: Dict[str, Callable[[str, int], Statement]] = {
    "esql": read_esql,
    "sql": read_sql,
    "eql": read_eql,
    "ppl": read_ppl,
    "graphql": read_graphql,
}


def statement_of(body: Any) -> Any:
    """The statement of a request body: its ``query`` (a dict, or JSON as text or bytes)."""
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    return body.get("query") if isinstance(body, dict) else None


def read(language: str, statement: Any, capture_query: str, max_length: int) -> Optional[Statement]:
    """The statement as ``db.query.text`` per ``capture_query`` (``raw``: as sent, bounded;
    ``sanitize``: literals replaced), with its collection and summary; ``None`` with ``omit``.
    A statement that is not text, or that cannot be read, is ``?``. Never raises."""
    if capture_query == "omit":
        return None
    try:
        if type(statement) is not str:
            if not isinstance(statement, (bytes, bytearray)):
                return (PLACEHOLDER, None, None)
            statement = bytes(statement).decode("utf-8", "replace")
        if capture_query == "raw":
            read = READERS[language](statement, max_length)
            return (bound(statement, max_length), read[1], read[2])
        return READERS[language](statement, max_length)  # a reader bounds its text
    except Exception:  # a statement is a nicety: never let it cost the call
        return (PLACEHOLDER, None, None)
