"""The query-language tokenizers on the statements of the clients' docs and the languages'
reference examples (typed by hand from their grammars), and on generated statements: no literal
survives ``sanitize``, the structure does, and nothing raises.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple, Optional

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from instrumentation._query_languages import read, statement_of

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Read(NamedTuple):
    """What ``read`` returns (a plain tuple, for speed), named for the assertions."""

    text: str
    collection: Optional[str]
    summary: Optional[str]


def sanitized(language: str, statement: str, max_length: int = 2048) -> Read:
    found = read(language, statement, "sanitize", max_length)
    assert found is not None
    return Read(*found)


# -- ES|QL ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statement", "text", "collection", "summary"),
    [
        (  # elasticsearch-py's docs
            'FROM library | EVAL year = DATE_EXTRACT("year", release_date) '
            '| WHERE page_count > 300 AND author == "Frank Herbert" '
            "| STATS count = COUNT(*) by year | WHERE count > 0 | LIMIT 5",
            "FROM library | EVAL year = DATE_EXTRACT(?, release_date) "
            "| WHERE page_count > ? AND author == ? "
            "| STATS count = COUNT(*) by year | WHERE count > ? | LIMIT ?",
            "library",
            "FROM library",
        ),
        (  # several sources, METADATA, IN, LIKE / RLIKE patterns, parameters
            'FROM logs-*, metrics-* METADATA _index | WHERE host IN ("a", "b", "c") '
            'AND message LIKE "*error*" AND path RLIKE "/api/v[0-9]+" AND bytes > ?min AND n < ?1',
            "FROM logs-*, metrics-* METADATA _index | WHERE host IN (?) "
            "AND message LIKE ? AND path RLIKE ? AND bytes > ?min AND n < ?1",
            None,
            "FROM logs-* metrics-*",
        ),
        (  # escaped quotes, a triple-quoted string, booleans, null, a backquoted name, comments
            '// the busy hosts\nFROM .ds-logs-2024.01.01 /* today */ | WHERE msg == "say \\"hi\\"" '
            'AND `host name` == """C:\\dir "x" """ AND ok == true AND err IS NULL',
            "FROM .ds-logs-2024.01.01   | WHERE msg == ? AND `host name` == ? AND ok == ? "
            "AND err IS NULL",
            ".ds-logs-2024.01.01",
            "FROM .ds-logs-2024.01.01",
        ),
        (  # numbers: decimals, exponents, negatives, time spans; names with digits stay
            "FROM k8s | EVAL x = field1 * 1.5e-3 - .5, d = NOW() - 1 day | WHERE y < -42",
            "FROM k8s | EVAL x = field1 * ? - ?, d = NOW() - ? day | WHERE y < -?",
            "k8s",
            "FROM k8s",
        ),
        ('ROW a = 1, b = "two", c = [1, 2, 3]', "ROW a = ?, b = ?, c = [?]", None, "ROW"),
        ("SHOW INFO", "SHOW INFO", None, "SHOW"),
        (
            'FROM "<logs-{now/d}>" | DISSECT msg "%{ts} %{level}" | KEEP level',
            'FROM "<logs-{now/d}>" | DISSECT msg ? | KEEP level',
            "<logs-{now/d}>",
            "FROM <logs-{now/d}>",
        ),
        ("from movies | limit 10", "from movies | limit ?", "movies", "FROM movies"),
    ],
)
def test_esql(statement: str, text: str, collection: Optional[str], summary: str) -> None:
    assert sanitized("esql", statement) == (text, collection, summary)


# -- SQL ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statement", "text", "collection", "summary"),
    [
        (  # elasticsearch-py's docs
            "SELECT * FROM library ORDER BY page_count DESC LIMIT 5",
            "SELECT * FROM library ORDER BY page_count DESC LIMIT ?",
            "library",
            "SELECT library",
        ),
        (  # '' escape, double-quoted and backquoted names, LIKE, IN, comments, TRUE
            'SELECT "first name", `last` FROM "emp-2024" -- staff\n'
            "WHERE name LIKE 'O''Br%' AND dept IN (1, 2, 3) /* x */ AND active = TRUE",
            'SELECT "first name", `last` FROM "emp-2024"  \n'
            "WHERE name LIKE ? AND dept IN (?)   AND active = ?",
            "emp-2024",
            "SELECT emp-2024",
        ),
        (
            "SELECT e.name FROM emp e JOIN dept d ON e.d = d.id WHERE e.hired > '2020-01-01'",
            "SELECT e.name FROM emp e JOIN dept d ON e.d = d.id WHERE e.hired > ?",
            None,
            "SELECT emp dept",
        ),
        (
            "SELECT EXTRACT(YEAR FROM hired) FROM emp WHERE x > INTERVAL 1 DAY AND y = ?",
            "SELECT EXTRACT(YEAR FROM hired) FROM emp WHERE x > INTERVAL ? DAY AND y = ?",
            "emp",
            "SELECT emp",
        ),
        (
            "SELECT * FROM (SELECT title FROM movies WHERE year = 1999)",
            "SELECT * FROM (SELECT title FROM movies WHERE year = ?)",
            "movies",
            "SELECT SELECT movies",
        ),
        ("SHOW TABLES LIKE 'emp%'", "SHOW TABLES LIKE ?", None, "SHOW TABLES"),
        ("DESCRIBE emp", "DESCRIBE emp", "emp", "DESCRIBE emp"),
    ],
)
def test_sql(statement: str, text: str, collection: Optional[str], summary: str) -> None:
    assert sanitized("sql", statement) == (text, collection, summary)


# -- EQL ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statement", "text"),
    [
        (  # elasticsearch-py's docs
            'process where process.name == "regsvr32.exe"',
            "process where process.name == ?",
        ),
        (
            'sequence by host.id with maxspan=1h [process where process.name : ("cmd*", "ps*")] '
            '[network where destination.port > 1024 and `dns name` != """x"y"""] until [x where true]',
            "sequence by host.id with maxspan=? [process where process.name : (?)] "
            "[network where destination.port > ? and `dns name` != ?] until [x where ?]",
        ),
        (
            "any where ?\"C:\\\\raw\" == file.path // why\n and user.id == 'legacy'",
            # a raw string (no escape inside) is one literal
            "any where ? == file.path  \n and user.id == ?",
        ),
    ],
)
def test_eql(statement: str, text: str) -> None:
    assert sanitized("eql", statement) == (text, None, None)


# -- PPL ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statement", "text", "collection", "summary"),
    [
        (  # OpenSearch's PPL docs
            "source=accounts | where age > 30 and state = 'CA' | fields firstname, lastname",
            "source=accounts | where age > ? and state = ? | fields firstname, lastname",
            "accounts",
            "search accounts",
        ),
        (
            'search source = logs-2024.01, other | where `a b` = "x" | stats count() by c | head 5',
            "search source = logs-2024.01, other | where `a b` = ? | stats count() by c | head ?",
            None,
            "search logs-2024.01 other",
        ),
        ("describe accounts", "describe accounts", None, "describe"),
    ],
)
def test_ppl(statement: str, text: str, collection: Optional[str], summary: str) -> None:
    assert sanitized("ppl", statement) == (text, collection, summary)


# -- GraphQL --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statement", "text", "collection", "summary"),
    [
        (  # Weaviate's docs
            '{ Get { JeopardyQuestion(limit: 2, nearText: {concepts: ["animals in movies"]}) '
            "{ question answer _additional { distance } } } }",
            "{ Get { JeopardyQuestion(limit: ?, nearText: {concepts: [?]}) "
            "{ question answer _additional { distance } } } }",
            "JeopardyQuestion",
            "Get JeopardyQuestion",
        ),
        (
            "{ Get { Movie(nearVector: {vector: [0.1, -0.2, 3e-5]}) { title } Book { name } } }",
            "{ Get { Movie(nearVector: {vector: [?]}) { title } Book { name } } }",
            None,
            "Get Movie Book",
        ),
        (
            '# totals\nquery Q($n: Int) { Aggregate { Movie(where: {path: ["year"], operator: '
            "GreaterThan, valueInt: 1999}) { meta { count } } } }",
            "query Q($n: Int) { Aggregate { Movie(where: {path: [?], operator: "
            "GreaterThan, valueInt: ?}) { meta { count } } } }",
            "Movie",
            "Aggregate Movie",
        ),
        (
            '{ Get { m: Movie(bm25: {query: """block "string" """}, where: {valueBoolean: true}) '
            "{ title } } }",
            "{ Get { m: Movie(bm25: {query: ?}, where: {valueBoolean: ?}) { title } } }",
            "Movie",
            "Get Movie",
        ),
    ],
)
def test_graphql(statement: str, text: str, collection: Optional[str], summary: str) -> None:
    assert sanitized("graphql", statement) == (text, collection, summary)


# -- modes, bounds, odd input ---------------------------------------------------------------------
def test_raw_keeps_the_statement_and_omit_reads_nothing() -> None:
    statement = 'FROM movies | WHERE title == "Alien"'
    assert read("esql", statement, "raw", 2048) == (statement, "movies", "FROM movies")
    assert read("esql", statement, "omit", 2048) is None


def test_bounded_and_never_half_a_literal() -> None:
    statement = 'FROM movies | WHERE title == "' + "secret " * 1000 + '"'
    found = sanitized("esql", statement, 64)
    assert len(found.text) <= 64
    assert "secret" not in found.text
    assert len(read("esql", statement, "raw", 64)[0]) == 64  # type: ignore[index]


@pytest.mark.parametrize("statement", [None, 42, {"q": 1}, ["FROM x"]])
def test_a_statement_that_is_not_text_is_a_placeholder(statement: object) -> None:
    assert read("esql", statement, "sanitize", 2048) == ("?", None, None)


def test_statement_of_bodies() -> None:
    assert statement_of({"query": "FROM x"}) == "FROM x"
    assert statement_of('{"query": "FROM x"}') == "FROM x"
    assert statement_of(b'{"query": "FROM x"}') == "FROM x"
    assert statement_of("not json") is None
    assert statement_of(None) is None


# -- the one pass reads as the separate passes did ----------------------------------------------
@pytest.mark.parametrize(
    ("language", "statement", "expected"),
    [
        (  # a word right after a closing quote is no boolean; a list is one match
            "esql",
            'ROW a = "x"true, b = "y", ?name, c = 1 , -2',
            ("ROW a = ?true, b = ?name, c = ? , -?", None, "ROW"),
        ),
        (  # a comma after a space is no list's, whatever else the statement holds
            "esql",
            'FROM m | WHERE a IN ("x", "y") AND b == 1 , -2',
            ("FROM m | WHERE a IN (?) AND b == ? , -?", "m", "FROM m"),
        ),
        (  # the same with a quoted name (the tokenizer's own pass, then its list clean-up)
            "esql",
            'FROM m | KEEP `a` | WHERE x IN (1 , 2) AND y IN ("a","b", -3, ?)',
            ("FROM m | KEEP `a` | WHERE x IN (? , ?) AND y IN (?)", "m", "FROM m"),
        ),
        (  # lists spaced or not, of literals, negative numbers and parameters: one placeholder
            "esql",
            'FROM m | WHERE a IN (?, "x","y",\n 3, -4) AND b IN (?,?) AND c == 1 , -2',
            ("FROM m | WHERE a IN (?) AND b IN (?) AND c == ? , -?", "m", "FROM m"),
        ),
        (  # a backslash: the escaped strings
            "esql",
            'FROM m | WHERE s == "a\\\\" b" AND t == "c"',
            ("FROM m | WHERE s == ? b?c?", "m", "FROM m"),
        ),
        (  # GraphQL's single quote starts no string: the boolean after it is one
            "graphql",
            "{ Get { Movie(where: {valueText: 'x'true}) { title } } }",
            ("{ Get { Movie(where: {valueText: 'x'?}) { title } } }", "Movie", "Get Movie"),
        ),
    ],
)
def test_one_pass_reads_as_before(language: str, statement: str, expected: tuple) -> None:
    assert sanitized(language, statement) == expected


# -- comments go whole, wherever they are ------------------------------------------------------
@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        # the head's command was found inside a leading comment: "c", "r?"
        ("// abc", ("", None, None)),
        ("// password hunter2", ("", None, None)),
        ("/* password hunter2 */", ("", None, None)),
        ("/* password hunter2", ("", None, None)),
        ("  // hunter2\n /* more */ FROM m", ("FROM m", "m", "FROM m")),
        ("/* a *//* b */ROW x = 1", ("ROW x = ?", None, "ROW")),
        # a block comment never runs past its first "*/" to find a command further on
        ("/* a */ 5 */ FROM x", ("? */ FROM x", None, None)),
        # a comment right after a source is no part of its name
        ("FROM movies//hunter2", ("FROM movies", "movies", "FROM movies")),
        ("FROM movies/*hunter2*/ | LIMIT 1", ("FROM movies  | LIMIT ?", "movies", "FROM movies")),
        ("FROM a, /*hunter2*/ b", ("FROM a,   b", "a", "FROM a")),
        ("FROM <logs-{now/d}>", ("FROM <logs-{now/d}>", "<logs-{now/d}>", "FROM <logs-{now/d}>")),
    ],
)
def test_esql_comments_go_whole(statement: str, expected: tuple) -> None:
    assert sanitized("esql", statement) == expected


@pytest.mark.parametrize(
    ("language", "statement", "expected"),
    [
        (
            "sql",
            "SELECT a FROM movies/*hunter2*/",
            ("SELECT a FROM movies", "movies", "SELECT movies"),
        ),
        (
            "sql",
            "SELECT a FROM movies--hunter2",
            ("SELECT a FROM movies", "movies", "SELECT movies"),
        ),
        (
            "ppl",
            "source=movies/*hunter2*/ | head 1",
            ("source=movies  | head ?", "movies", "search movies"),
        ),
    ],
)
def test_a_comment_after_a_source_is_dropped(
    language: str, statement: str, expected: tuple
) -> None:
    assert sanitized(language, statement) == expected


# -- strings: escaped by a backslash, doubled, raw ---------------------------------------------
@pytest.mark.parametrize(
    ("language", "statement", "text"),
    [
        # Hypothesis's: a writer's 'it''s' whose backslash PPL's lexer reads as an escape
        ("ppl", "source=m | where title == '\\''zqaaaa'", "source=m | where title == ?"),
        ("ppl", "source=m | where a = 'it''s' and b = 1", "source=m | where a = ? and b = ?"),
        ("ppl", "source=m | where a = 'C:\\\\' and b = 'x'", "source=m | where a = ? and b = ?"),
        # a backslash before the quote: one string, or one, a name and an open one: the rest
        ("ppl", "source=m | where a = 'x\\'zqaaaa' and b = 1", "source=m | where a = ?"),
        ("ppl", 'source=m | where a = "x\\"zqaaaa" and b = 1', "source=m | where a = ?"),
        ("sql", "SELECT a FROM t WHERE b = 'x\\'zqaaaa' AND c = 1", "SELECT a FROM t WHERE b = ?"),
        ("sql", "SELECT a FROM t WHERE b = 'C:\\dir\\' AND c = 1", "SELECT a FROM t WHERE b = ?"),
        (
            "sql",
            "SELECT a FROM t WHERE b = 'it''s' AND c = 1",
            "SELECT a FROM t WHERE b = ? AND c = ?",
        ),
        # a quoted name left open, or read two ways, is no name kept with a literal inside
        ("sql", "SELECT \"a FROM t WHERE b = 'zqaaaa'", "SELECT ?"),
        ("sql", "SELECT `a\\` FROM t WHERE b = 'zqaaaa'", "SELECT ?"),
        ("esql", 'FROM t | WHERE `a == "zqaaaa"', "FROM t | WHERE ?"),
        ("esql", 'FROM t | WHERE `a``b` == "zqaaaa"', "FROM t | WHERE `a``b` == ?"),
        ("ppl", "source=t | where `a = 'zqaaaa'", "source=t | where ?"),
        ("eql", 'any where `a == "zqaaaa"', "any where ?"),
        # EQL's raw strings: a backslash is no escape there
        ("eql", 'any where a == ?"C:\\tmp\\" and b == "zqaaaa"', "any where a == ? and b == ?"),
        ("eql", "any where a == ?'C:\\tmp\\' and b == 1", "any where a == ? and b == ?"),
        # ES|QL: backslash escapes; a triple-quoted string has none
        ("esql", 'ROW a = "x\\"zqaaaa", b = 1', "ROW a = ?, b = ?"),
        ("esql", 'ROW a = """C:\\""", b = "zqaaaa"', "ROW a = ?, b = ?"),
        # GraphQL's block string: \""" is no end
        (
            "graphql",
            '{ Get { Movie(where: {valueText: """a \\""" zqaaaa """}) { title } } }',
            "{ Get { Movie(where: {valueText: ?}) { title } } }",
        ),
    ],
)
def test_strings_are_read_as_their_languages_read_them(
    language: str, statement: str, text: str
) -> None:
    assert sanitized(language, statement).text == text


# -- properties: no generated literal survives ----------------------------------------------------
#: Literal values that cannot be mistaken for a keyword or a name once replaced.
secret_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=4, max_size=12).map(
    lambda word: f"zq{word}"
)
secret_numbers = st.one_of(
    st.integers(min_value=10**6, max_value=10**12),
    st.floats(min_value=1e6, max_value=1e12, allow_nan=False),
)
escaped_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)


def _double_quoted(word: str, filler: str) -> str:
    inner = (filler + word).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{inner}"'


def _single_sql(word: str, filler: str) -> str:
    """Elasticsearch SQL's string: the quote doubled, a backslash is a backslash."""
    return "'" + (filler + word).replace("'", "''") + "'"


def _opensearch(quote: str, doubling: bool) -> Callable[[str, str], str]:
    """OpenSearch's SQL and PPL strings (``'(\\\\. | '' | ~['\\\\])*'``, the same in double quotes):
    a backslash escapes, and the quote is escaped by a backslash or doubled."""

    def quoted(word: str, filler: str) -> str:
        escaped = quote * 2 if doubling else "\\" + quote
        return quote + (filler + word).replace("\\", "\\\\").replace(quote, escaped) + quote

    return quoted


FIELDS = ["title", "year", "host.name", "field1", "`odd field`"]
OPERATORS = ["==", "!=", ">", "<=", ":", "LIKE", "RLIKE"]


@st.composite
def conditions(draw: st.DrawFn, quote: str) -> tuple:
    """A ``WHERE`` condition of one field, one operator and literals; the literals' secrets."""
    field = draw(st.sampled_from(FIELDS))
    operator = draw(st.sampled_from(OPERATORS))
    kind = draw(st.sampled_from(["string", "number", "list", "triple", "boolean"]))
    word = draw(secret_words)
    filler = draw(escaped_text)
    if quote.startswith("os"):  # OpenSearch: either escape, as the writer likes
        quoted = _opensearch(quote[2], draw(st.booleans()))
    else:
        quoted = _single_sql if quote == "'" else _double_quoted
    if kind == "string":
        return f"{field} {operator} {quoted(word, filler)}", [word]
    if kind == "number":
        number = draw(secret_numbers)
        return f"{field} {operator} {number!r}", [repr(number)]
    if kind == "triple" and quote == '"':
        return f'{field} {operator} """{filler.replace(chr(34), "")}{word}"""', [word]
    if kind == "boolean":
        return f"{field} == {draw(st.sampled_from(['true', 'FALSE', 'True']))}", []
    words = draw(st.lists(secret_words, min_size=1, max_size=5))
    return f"{field} IN ({', '.join(quoted(w, filler) for w in words)})", words


def _no_literal(text: str, secrets: list) -> None:
    for secret in secrets:
        assert secret not in text, (secret, text)
    assert not re.search(r"(?i)(?<![\w.?$@`])(true|false)(?!\w)", text), text


@SETTINGS
@given(st.lists(conditions('"'), min_size=1, max_size=4), st.booleans())
def test_property_esql_no_literal_survives(parts: list, comment: bool) -> None:
    where = " AND ".join(part for part, _ in parts)
    statement = f"FROM movies | WHERE {where} | LIMIT 10"
    if comment:
        statement = "// lead\n" + statement + " /* tail */"
    found = sanitized("esql", statement)
    _no_literal(found.text, [s for _, secrets in parts for s in secrets] + ["10"])
    assert found.text.startswith("FROM movies | WHERE ")
    assert found.collection == "movies"


COMMENTS = {
    "esql": ["// {}\n", "/* {} */", "/*{}*/"],
    "sql": ["-- {}\n", "/* {} */"],
    "eql": ["// {}\n", "/* {} */"],
    "ppl": ["/* {} */"],
    "graphql": ["# {}\n"],
}
STATEMENTS = {
    "esql": ["FROM movies", "| WHERE year > ?", "| LIMIT ?"],
    "sql": ["SELECT title", "FROM movies", "WHERE year > ?"],
    "eql": ["process where", "process.name == ?", "and a == ?"],
    "ppl": ["source=movies", "| where year > ?", "| head ?"],
    "graphql": ["{ Get {", "Movie(limit: ?)", "{ title } } }"],
}


@SETTINGS
@given(
    st.sampled_from(sorted(COMMENTS)),
    st.data(),
    secret_words,
    st.text(alphabet=" abc-/*#\n'\"`\\", max_size=8),
)
def test_property_no_comment_survives(
    language: str, data: st.DataObject, secret: str, noise: str
) -> None:
    """A secret in a leading, inline or trailing comment never survives, nor does the text
    around it make a command of it."""
    comment = data.draw(st.sampled_from(COMMENTS[language]))
    # the noise never ends the comment itself
    noise = noise.replace("*/", "") if comment.endswith("*/") else noise.replace("\n", "")
    body = comment.format(noise + secret + noise)
    words = STATEMENTS[language]
    place = data.draw(st.integers(min_value=0, max_value=len(words)))
    glue = data.draw(st.sampled_from(["", " ", "\n"]))
    statement = " ".join(words[:place]) + glue + body + glue + " ".join(words[place:])
    found = sanitized(language, statement)
    assert secret not in found.text, (statement, found)
    assert secret[2:] not in found.text, (statement, found)


@SETTINGS
@given(st.lists(conditions('"'), min_size=1, max_size=4))
def test_property_eql_no_literal_survives(parts: list) -> None:
    statement = "process where " + " and ".join(part for part, _ in parts)
    _no_literal(sanitized("eql", statement).text, [s for _, secrets in parts for s in secrets])


@SETTINGS
@given(st.lists(conditions("'") | conditions("os'"), min_size=1, max_size=4))
def test_property_sql_no_literal_survives(parts: list) -> None:
    """Elasticsearch's SQL doubles a quote, OpenSearch's escapes it too: safe either way."""
    statement = "SELECT title FROM movies WHERE " + " AND ".join(part for part, _ in parts)
    found = sanitized("sql", statement)
    _no_literal(found.text, [s for _, secrets in parts for s in secrets])
    assert (found.collection, found.summary) == ("movies", "SELECT movies")


@SETTINGS
@given(st.lists(conditions("os'") | conditions('os"') | conditions("'"), min_size=1, max_size=4))
def test_property_ppl_no_literal_survives(parts: list) -> None:
    """PPL's strings as its lexer reads them (a quote doubled or escaped by a backslash), and
    as a writer used to Elasticsearch's SQL quotes them (a backslash that is only a backslash):
    no literal survives either."""
    statement = "source=movies | where " + " and ".join(part for part, _ in parts)
    found = sanitized("ppl", statement)
    _no_literal(found.text, [s for _, secrets in parts for s in secrets])
    assert found.collection == "movies"


@SETTINGS
@given(st.lists(st.tuples(secret_words, escaped_text), min_size=1, max_size=4), secret_numbers)
def test_property_graphql_no_literal_survives(words: list, number: float) -> None:
    values = ", ".join(_double_quoted(word, filler) for word, filler in words)
    statement = (
        f"{{ Get {{ Movie(nearText: {{concepts: [{values}]}}, limit: {number!r}) {{ title }} }} }}"
    )
    found = sanitized("graphql", statement)
    _no_literal(found.text, [word for word, _ in words] + [repr(number)])
    assert (found.collection, found.summary) == ("Movie", "Get Movie")


@SETTINGS
@given(
    st.sampled_from(["esql", "sql", "eql", "ppl", "graphql"]),
    st.text(max_size=300),
    st.sampled_from(["sanitize", "raw"]),
    st.integers(min_value=1, max_value=100),
)
def test_property_anything_is_read_bounded_and_never_raises(
    language: str, statement: str, mode: str, max_length: int
) -> None:
    read_ = read(language, statement, mode, max_length)
    assert read_ is not None
    found = Read(*read_)
    assert len(found.text) <= max_length
    found.text.encode("utf-8")  # exportable
    if found.summary is not None:
        assert len(found.summary) <= 255


@SETTINGS
@given(
    st.sampled_from(["esql", "sql", "eql", "ppl"]),
    st.text(alphabet="ab `\\\"'", max_size=10),
    secret_words,
)
def test_property_a_quoted_name_never_keeps_a_literal(
    language: str, name: str, secret: str
) -> None:
    """Whatever a backquoted (or, in SQL, double-quoted) name holds, the literal after it is
    replaced: an open or ambiguous name is no kept name."""
    literal = {"esql": f'"{secret}"', "eql": f'"{secret}"'}.get(language, f"'{secret}'")
    for quote in '`"' if language == "sql" else "`":
        doubled = name.replace(quote, quote * 2)  # Elasticsearch: a backslash is a backslash
        escaped = _opensearch(quote, doubling=False)(name, "")  # OpenSearch: it escapes
        for quoted in (f"{quote}{doubled}{quote}", escaped):
            statement = f"{quoted} == {literal} and x == 1"
            assert secret not in sanitized(language, statement).text, statement


@SETTINGS
@given(st.lists(st.tuples(secret_words, escaped_text), min_size=1, max_size=4))
def test_property_eql_raw_strings(words: list) -> None:
    """EQL's raw strings keep their backslashes: ``?"C:\\dir\\"`` ends at its second quote."""
    parts = [f'a == ?"{filler.replace(chr(34), "")}\\" and b == "{word}"' for word, filler in words]
    found = sanitized("eql", "any where " + " and ".join(parts))
    _no_literal(found.text, [word for word, _ in words])


# -- ES|QL's common head ----------------------------------------------------------------------
#: What a statement's tail is made of: literals, lists, parameters, and what the common path
#: leaves to the general reader (comments, quoted names, escapes).
ESQL_ATOMS = [
    *['"a"', "'b'", '"""t"q"""', '"e\\"f"', "1", "2.5", "-3", "1e-3", ".5", "true", "FALSE"],
    *["?", "?p", "?1", ",", ", ", " , ", " ", "|", " | ", "(", ")", "==", "x", "t1", "AND"],
    *["//c\n", "/*c*/", "/", "`q`", "`", "\\", '"', "\u00e91"],
]


@settings(SETTINGS, max_examples=1000)
@example("FROM", "movies", " | ", 'a //c\n"x"', 2048)  # a comment: dropped
@example("FROM", "movies", " | ", "KEEP `t1` | WHERE a == 1", 2048)  # a quoted name: kept
@example("FROM", "movies", " | ", 'WHERE a == "e\\"f" AND b == 2', 2048)  # an escape
@example("FROM", "movies", " | ", "WHERE \u00e91 == 2", 2048)  # a name's digit, not a number
@example("FROM", "movies", "", "", 2048)  # the source alone
@example("FROM", "movies", " | ", "WHERE x == 1 AND yyyyyyyyyyyy", 20)  # bounded
@example("from", "true", " | ", "LIMIT 1", 2048)  # a source, whatever it looks like
@example("FROM", "a" * 300, " | ", "LIMIT 1", 2048)  # the summary's bound
@example("fRoM", "logs-*", " | ", 'WHERE a == "x"', 2048)  # an index pattern, any case
@example("FROM", "a//b", " | ", "LIMIT 1", 2048)  # a comment in the head: not a name
@given(
    st.sampled_from(["FROM", "from", "fRoM", "ROW", "FROM movies,", "FROM  "]),
    st.sampled_from(
        ["movies", "true", "1979", "logs-*", ".ds-l-2024.01", "c:i", "a/b", "a//b", '"m"', ""]
    ),
    st.sampled_from([" | ", " |", " ", "", " METADATA _id | "]),
    st.lists(st.sampled_from(ESQL_ATOMS), max_size=12).map("".join),
    st.sampled_from([2048, 20]),
)
def test_property_esql_common_head_reads_as_the_general_reader(
    keyword: str, source: str, bar: str, tail: str, max_length: int
) -> None:
    """The common statement's own path (``FROM movies | ...``, its head read once per index)
    reads every statement it takes as the head's regular expression does."""
    from instrumentation import _query_languages as languages

    statement = f"{keyword} {source}{bar}{tail}"
    general = languages._bounded(languages._read_esql(statement, max_length), max_length)
    assert languages.read_esql(statement, max_length) == general
    assert languages.read_esql(statement, max_length) == general  # its head now seen


def test_esql_heads_read_once_keep_names_only_and_are_bounded() -> None:
    """A service's heads repeat where its statements do not: each is read once, holds an index
    name, never a literal, and there are never more of them than the bound, however many
    indices are queried."""
    from instrumentation import _query_languages as languages

    for statement in ('ROW a = "hunter2"', "ROW a = 12345", 'FROM m | WHERE a == "hunter2"'):
        assert "hunter2" not in sanitized("esql", statement).text
    kept = repr(languages._HEADS)
    assert "hunter2" not in kept and "12345" not in kept
    for index in range(languages._HEADS_MAX + 100):
        found = sanitized("esql", f'FROM idx{index} | WHERE title == "x{index}" | LIMIT {index}')
        assert found == (
            f"FROM idx{index} | WHERE title == ? | LIMIT ?",
            f"idx{index}",
            f"FROM idx{index}",
        )
    assert len(languages._HEADS) == languages._HEADS_MAX
    for head, (source, summary) in languages._HEADS.items():
        assert head.partition(" ")[2] == source and summary == "FROM " + source
