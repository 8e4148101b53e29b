"""The reference pages are checked against the code, so they cannot drift."""

from __future__ import annotations

from pathlib import Path

from instrumentation import _attributes
from instrumentation._config import OPTIONS
from instrumentation.clients import elasticsearch as es_client

DOCS = Path(__file__).parent.parent / "docs"


def test_configuration_page_lists_every_option_and_environment_variable() -> None:
    text = (DOCS / "configuration.md").read_text()
    for option in OPTIONS:
        assert f"`{option.name}`" in text
        if option.env:
            assert f"`{option.env}`" in text


def test_configuration_table_rows_are_the_code_s_defaults_and_allowed_values() -> None:
    """Each row of the reference table is exactly what ``_config.OPTIONS`` says."""
    rows = {
        line.split("|")[1].strip(): line.strip()
        for line in (DOCS / "configuration.md").read_text().splitlines()
        if line.startswith("| `")
    }
    for option in OPTIONS:
        env = f"`{option.env}`" if option.env else "—"
        expected = (
            f"| `{option.name}` | {env} | {option.default} | {option.allowed} | {option.help} |"
        )
        assert rows.get(f"`{option.name}`") == expected


def test_attribute_page_lists_every_attribute_we_emit() -> None:
    text = (DOCS / "attributes.md").read_text()
    emitted = [
        value
        for name, value in vars(_attributes).items()
        if name.isupper() and isinstance(value, str) and "." in value
    ]
    emitted += [es_client.HELPERS.documents, es_client.HELPERS.failed_documents]
    for attribute in emitted:
        assert f"`{attribute.rstrip('.')}" in text, attribute


def test_every_keyword_option_is_in_the_documented_list() -> None:
    import inspect

    from instrumentation._config import build_settings

    keywords = set(inspect.signature(build_settings).parameters) - {"env", "unknown"}
    assert keywords <= {option.name for option in OPTIONS}
