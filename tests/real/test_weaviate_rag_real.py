"""Retrieval-augmented generation on the real Weaviate: ``near_text`` and ``generate.*``.

The real server's ``text2vec-cohere`` and ``generative-cohere`` modules call a loopback
Cohere-compatible endpoint (``tests/servers/cohere.py``), named per request in the
``X-Cohere-Baseurl`` header. Each scenario runs plain, traced, plain: the application sees the
same answers, and the traced span names the provider and model the request asked for and the
tokens the server returned, as the endpoint counted them for the generations Weaviate asked of it.
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Tuple

import pytest
import weaviate.classes as wvc
from opentelemetry.trace import StatusCode
from weaviate.classes.config import Configure
from weaviate.classes.generate import GenerativeConfig, GenerativeParameters

from tests.real import support
from tests.real.support import weaviate_client_for
from tests.servers import cohere as loopback
from tests.servers.threaded import InThread
from tests.support.apm import apm_outcomes
from tests.support.differential import plain_traced_plain
from tests.support.telemetry import exported_text, metric_points

MODEL = "command-r-08-2024"
PROMPT = "Sum up {title} in one line."
TASK = "Which of these is the scariest?"
API_KEY = "loopback-cohere-key"
TITLES = ["Alien", "Heat", "Alien Resurrection", "Toy Story"]


@pytest.fixture
def cohere() -> Iterator[loopback.CohereStandIn]:
    with InThread(loopback.CohereStandIn()) as server:
        yield server


def headers(cohere: loopback.CohereStandIn) -> Dict[str, str]:
    return {"X-Cohere-Api-Key": API_KEY, "X-Cohere-Baseurl": cohere.url}


def connect(server: support.Weaviate, cohere: loopback.CohereStandIn) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def open_client() -> AsyncIterator[Any]:
        client = weaviate_client_for(server, headers=headers(cohere))
        await client.connect()
        try:
            yield client
        finally:
            await client.close()

    return open_client


@pytest.fixture
async def movies(
    real_weaviate: support.Weaviate, new_collection: Any, cohere: loopback.CohereStandIn
) -> str:
    """A collection vectorized by Cohere, with Cohere as its generative module (the endpoint
    vectorizes the objects as they are inserted); created before instrument()."""
    name = new_collection("Rag")
    async with connect(real_weaviate, cohere)() as client:
        collection = await client.collections.create(
            name,
            properties=[wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT)],
            # Not the collection's (random) name in the vectors: near_text's neighbours stay put.
            vector_config=Configure.Vectors.text2vec_cohere(vectorize_collection_name=False),
            generative_config=Configure.Generative.cohere(),
        )
        result = await collection.data.insert_many([{"title": t} for t in TITLES])
        assert not result.has_errors, result.errors
    assert any(r.path == "/v2/embed" for r in cohere.requests)
    return name


def gen_ai(span: Any) -> Dict[str, Any]:
    return {k: v for k, v in span.attributes.items() if k.startswith("gen_ai.")}


def counted(chats: List[loopback.CohereRequest]) -> Tuple[int, int]:
    """The tokens the endpoint reported (``usage.tokens``) for these chat requests, summed."""
    total_in = total_out = 0
    for chat in chats:
        prompt = " ".join(
            part["text"] for message in chat.body["messages"] for part in message["content"]
        )
        tokens_in, tokens_out = loopback.usage(prompt, loopback.answer(prompt))
        total_in += tokens_in
        total_out += tokens_out
    return total_in, total_out


async def rag(
    real_weaviate: support.Weaviate,
    cohere: loopback.CohereStandIn,
    instrumented: Any,
    span_exporter: Any,
    call: Callable[[Any], Any],
    **kwargs: Any,
) -> Tuple[Any, List[loopback.CohereRequest]]:
    """Run ``call`` plain / traced / plain; the run and the chat requests of the traced run."""
    chats: List[List[loopback.CohereRequest]] = []

    async def prepare() -> None:
        chats.append(cohere.chats())

    run = await plain_traced_plain(
        connect(real_weaviate, cohere), call, instrumented, span_exporter, prepare=prepare, **kwargs
    )
    run.assert_same_outcome()
    traced = cohere.chats()[len(chats[1]) : len(chats[2])]
    assert traced, "Weaviate asked the endpoint for no generation"
    for chat in traced:
        assert chat.headers["Authorization"].endswith(API_KEY)
    return run, traced


async def test_near_text_is_vectorized_by_the_module_on_the_real_server(
    real_weaviate: support.Weaviate,
    movies: str,
    cohere: loopback.CohereStandIn,
    instrumented: Any,
    span_exporter: Any,
) -> None:
    run = await plain_traced_plain(
        connect(real_weaviate, cohere),
        lambda c: c.collections.use(movies).query.near_text("alien", limit=2),
        instrumented,
        span_exporter,
    )
    run.assert_same_outcome()
    titles = [o.properties["title"] for o in run.traced.value.objects]
    # The endpoint's vectors, searched: "alien" is nearest to the title that is only that word
    # (which second neighbour ties depends on the words' hash buckets, not on us).
    assert len(titles) == 2 and titles[0] == "Alien"
    [span] = run.spans
    assert span.name == f"near_text {movies}"
    assert span.status.status_code is StatusCode.UNSET
    assert gen_ai(span) == {}  # a search, not a generation
    assert "alien" not in exported_text(span).lower().replace(movies.lower(), "")


async def test_the_rag_call_s_provider_model_and_tokens(
    real_weaviate: support.Weaviate,
    movies: str,
    cohere: loopback.CohereStandIn,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    apm: Any,
) -> None:
    run, chats = await rag(
        real_weaviate,
        cohere,
        instrumented,
        span_exporter,
        lambda c: c.collections.use(movies).generate.hybrid(
            "alien",
            limit=2,
            single_prompt=GenerativeParameters.single_prompt(PROMPT, metadata=True),
            generative_provider=GenerativeConfig.cohere(model=MODEL),
        ),
        apm=apm,
    )
    response = run.traced.value
    assert len(response.objects) == len(chats) == 2  # one generation per object
    assert {chat.body["model"] for chat in chats} == {MODEL}  # what Weaviate asked of Cohere
    tokens_in, tokens_out = counted(chats)
    [span] = run.spans
    assert span.name == f"generate.hybrid {movies}"
    assert span.status.status_code is StatusCode.UNSET
    assert gen_ai(span) == {
        "gen_ai.provider.name": "cohere",
        "gen_ai.request.model": MODEL,
        "gen_ai.usage.input_tokens": tokens_in,  # Cohere's tokens, not its billed units
        "gen_ai.usage.output_tokens": tokens_out,
    }
    assert sum(o.generative.metadata.tokens.input_tokens for o in response.objects) == tokens_in
    sums = {
        p.attributes["gen_ai.token.type"]: (p.sum, dict(p.attributes))
        for p in metric_points(metric_reader, "gen_ai.client.token.usage")
    }
    assert {k: v[0] for k, v in sums.items()} == {"input": tokens_in, "output": tokens_out}
    assert sums["input"][1]["gen_ai.request.model"] == MODEL
    exported = exported_text(span)
    for text in ["Sum up", "in one line", "Loopback Cohere read", API_KEY]:
        assert text not in exported
    # Elastic APM: the same, as labels (numeric ones for the counts, so Kibana can chart them)
    [apm_span] = run.apm_spans  # the document APM Server indexes
    assert apm_outcomes(run.apm_spans) == [(span.name, "success")]
    assert apm_span["labels"] == {
        "gen_ai_provider_name": "cohere",
        "gen_ai_request_model": MODEL,
    }
    assert apm_span["numeric_labels"] == {
        "gen_ai_usage_input_tokens": tokens_in,
        "gen_ai_usage_output_tokens": tokens_out,
    }


async def test_a_grouped_task_s_tokens(
    real_weaviate: support.Weaviate,
    movies: str,
    cohere: loopback.CohereStandIn,
    instrumented: Any,
    span_exporter: Any,
) -> None:
    run, chats = await rag(
        real_weaviate,
        cohere,
        instrumented,
        span_exporter,
        lambda c: c.collections.use(movies).generate.near_text(
            "alien",
            limit=3,
            grouped_task=GenerativeParameters.grouped_task(TASK, metadata=True),
            generative_provider=GenerativeConfig.cohere(model=MODEL),
        ),
    )
    assert len(chats) == 1  # one generation for the group
    tokens_in, tokens_out = counted(chats)
    [span] = run.spans
    assert span.attributes["gen_ai.usage.input_tokens"] == tokens_in
    assert span.attributes["gen_ai.usage.output_tokens"] == tokens_out


async def test_with_a_single_prompt_too_the_server_s_copy_in_the_grouped_answer_is_not_counted(
    real_weaviate: support.Weaviate,
    movies: str,
    cohere: loopback.CohereStandIn,
    instrumented: Any,
    span_exporter: Any,
) -> None:
    """Weaviate 1.39 answers the grouped task's metadata with the first object's usage when a
    single prompt is asked as well: the grouped generation's own tokens are lost on the server,
    and the span counts the per-object generations only, never the first one twice."""
    run, chats = await rag(
        real_weaviate,
        cohere,
        instrumented,
        span_exporter,
        lambda c: c.collections.use(movies).generate.fetch_objects(
            limit=2,
            single_prompt=GenerativeParameters.single_prompt(PROMPT, metadata=True),
            grouped_task=GenerativeParameters.grouped_task(TASK, metadata=True),
            generative_provider=GenerativeConfig.cohere(model=MODEL),
        ),
    )
    response = run.traced.value
    assert response.generative.metadata == response.objects[0].generative.metadata  # the bug
    singles = [c for c in chats if TASK not in str(c.body)]
    assert len(singles) == 2 and len(chats) == 3
    tokens_in, tokens_out = counted(singles)
    [span] = run.spans
    assert span.attributes["gen_ai.usage.input_tokens"] == tokens_in
    assert span.attributes["gen_ai.usage.output_tokens"] == tokens_out


async def test_the_collection_s_own_module_names_no_provider_and_returns_no_usage(
    real_weaviate: support.Weaviate,
    movies: str,
    cohere: loopback.CohereStandIn,
    instrumented: Any,
    span_exporter: Any,
) -> None:
    run, _ = await rag(
        real_weaviate,
        cohere,
        instrumented,
        span_exporter,
        lambda c: c.collections.use(movies).generate.fetch_objects(limit=2, single_prompt=PROMPT),
    )
    [span] = run.spans
    assert gen_ai(span) == {}  # nothing the request or the answer says


async def test_a_failed_generation_is_the_server_s_error_and_names_provider_and_model(
    real_weaviate: support.Weaviate,
    movies: str,
    cohere: loopback.CohereStandIn,
    instrumented: Any,
    span_exporter: Any,
) -> None:
    async def prepare() -> None:
        cohere.fail_next(429, "trial key rate limit")

    run = await plain_traced_plain(
        connect(real_weaviate, cohere),
        lambda c: c.collections.use(movies).generate.fetch_objects(
            limit=1,
            single_prompt=GenerativeParameters.single_prompt(PROMPT, metadata=True),
            generative_provider=GenerativeConfig.cohere(model=MODEL),
        ),
        instrumented,
        span_exporter,
        prepare=prepare,
    )
    run.assert_same_outcome()
    [span] = run.spans
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "UNKNOWN"
    assert "connection to Cohere API failed with status: 429" in span.status.description
    assert gen_ai(span) == {"gen_ai.provider.name": "cohere", "gen_ai.request.model": MODEL}


# -- docs/weaviate-rag.md: its example, verbatim ---------------------------------------------------
def _script() -> Any:
    import importlib.util
    import pathlib
    import sys

    path = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "weaviate_rag.py"
    spec = importlib.util.spec_from_file_location("weaviate_rag_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(600)
def test_the_page_s_example_runs_plain_traced_plain_and_shows_its_real_spans(
    real_weaviate: support.Weaviate,
) -> None:
    import difflib

    script = _script()
    page = script.PAGE.read_text()
    app = script.page_app(page)
    server = (real_weaviate.http_url, real_weaviate.grpc_port)
    printed = []
    for traced in (False, True, False):
        spans, ports, out = script.run_app(app, *server, traced=traced)
        printed.append(out)
        assert bool(spans) is traced
        if traced:
            generated = script.render(spans, ports)
    assert printed[0] == printed[1] == printed[2]
    assert printed[0].splitlines()[0] == "['Alien', 'Alien Resurrection']"
    shown = script.page_output(page)
    diff = "".join(
        difflib.unified_diff(shown.splitlines(True), generated.splitlines(True), "page", "real")
    )
    assert shown == generated, (
        "docs/weaviate-rag.md is stale; python scripts/weaviate_rag.py --write\n" + diff
    )
    assert "gen_ai.usage.input_tokens" in generated
