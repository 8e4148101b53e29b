"""Weaviate ``generate.*`` (RAG): the provider, the model and the tokens of the generation.

The real client against the loopback stand-in, whose answers carry the usage metadata a real
Weaviate 1.39 returns for a dynamic provider asked with ``metadata=True`` (one message kind per
provider, words counted as tokens), including its copy of the first object's usage into the
grouped answer when a single prompt is asked too. ``tests/real/test_weaviate_rag_real.py`` runs
the same against a real server and a loopback Cohere endpoint.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import grpc
import pytest
import weaviate.classes as wvc
from weaviate.classes.generate import GenerativeConfig, GenerativeParameters
from weaviate.exceptions import WeaviateQueryError

from tests.support.telemetry import exported_text, finished, metric_points, metrics_named

PROPS = [
    wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT),
    wvc.config.Property(name="year", data_type=wvc.config.DataType.INT),
]
TITLES = ["Alien", "Heat Wave Returns"]
PROMPT = "Sum up {title} briefly"
TASK = "Compare these movies"
TOKEN_BUCKETS = [
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864
]  # fmt: skip


@pytest.fixture
async def movies(weaviate_client: Any) -> Any:
    collection = await weaviate_client.collections.create("Movie", properties=PROPS)
    await collection.data.insert_many(
        [
            wvc.data.DataObject(properties={"title": t, "year": 1979 + n}, vector=[1.0, n])
            for n, t in enumerate(TITLES)
        ]
    )
    return collection


def words(text: str) -> int:
    return len(text.split())


def single_usage(title: str) -> Tuple[int, int]:
    """The stand-in's usage of one object's generation: the filled prompt and its answer."""
    filled = PROMPT.replace("{title}", title)
    return words(filled), words(f"Stand-in generated text for: {filled}")


def grouped_usage(objects: int) -> Tuple[int, int]:
    return words(TASK), words(f"Stand-in generated text for: {TASK} ({objects} objects)")


def gen_ai(span: Any) -> Dict[str, Any]:
    return {k: v for k, v in span.attributes.items() if k.startswith("gen_ai.")}


def single(metadata: bool = True) -> Any:
    return GenerativeParameters.single_prompt(PROMPT, metadata=metadata)


def grouped(metadata: bool = True) -> Any:
    return GenerativeParameters.grouped_task(TASK, metadata=metadata)


COHERE = GenerativeConfig.cohere(model="command-r-plus")


async def test_a_dynamic_provider_and_its_model_are_on_the_span(
    movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented()
    await movies.generate.near_vector(
        [1.0, 0.0], single_prompt=single(metadata=False), generative_provider=COHERE
    )
    span = finished(span_exporter)[0]
    assert span.name == "generate.near_vector Movie"
    # no metadata asked: the server says nothing of the tokens, and nothing is made up
    assert gen_ai(span) == {
        "gen_ai.provider.name": "cohere",
        "gen_ai.request.model": "command-r-plus",
    }


async def test_the_tokens_of_every_object_s_generation_are_summed(
    movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented()
    response = await movies.generate.fetch_objects(
        single_prompt=single(), generative_provider=COHERE
    )
    assert len(response.objects) == 2
    usages = [single_usage(title) for title in TITLES]
    assert gen_ai(finished(span_exporter)[0]) == {
        "gen_ai.provider.name": "cohere",
        "gen_ai.request.model": "command-r-plus",
        "gen_ai.usage.input_tokens": sum(u[0] for u in usages),
        "gen_ai.usage.output_tokens": sum(u[1] for u in usages),
    }


async def test_a_grouped_task_s_tokens(movies: Any, instrumented: Any, span_exporter: Any) -> None:
    instrumented()
    await movies.generate.fetch_objects(grouped_task=grouped(), generative_provider=COHERE)
    tokens_in, tokens_out = grouped_usage(2)
    attributes = gen_ai(finished(span_exporter)[0])
    assert attributes["gen_ai.usage.input_tokens"] == tokens_in
    assert attributes["gen_ai.usage.output_tokens"] == tokens_out


async def test_with_both_the_grouped_copy_of_the_first_object_s_usage_is_not_counted(
    movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    """Weaviate 1.39 answers the grouped task's metadata with the first object's usage when a
    single prompt is asked too: counting it would count the first object twice."""
    instrumented()
    response = await movies.generate.fetch_objects(
        single_prompt=single(), grouped_task=grouped(), generative_provider=COHERE
    )
    first = response.objects[0].generated  # what the application reads: the server's copy
    assert response.generative.metadata == response.objects[0].generative.metadata, first
    usages = [single_usage(title) for title in TITLES]
    attributes = gen_ai(finished(span_exporter)[0])
    assert attributes["gen_ai.usage.input_tokens"] == sum(u[0] for u in usages)
    assert attributes["gen_ai.usage.output_tokens"] == sum(u[1] for u in usages)


def _provider(method: str, **options: Any) -> Any:
    """``GenerativeConfig.<method>(**options)``, or ``None`` where this weaviate-client has no such
    provider (the oldest we support lacks some): that case is skipped."""
    factory = getattr(GenerativeConfig, method, None)
    return None if factory is None else factory(**options)


PROVIDERS: List[Tuple[str, Any, str, Optional[str], bool]] = [
    # (id, provider, gen_ai.provider.name, model, whether Weaviate returns usage)
    ("openai", _provider("openai", model="gpt-4o-mini"), "openai", "gpt-4o-mini", True),
    (
        "azure-openai",
        _provider("azure_openai", resource_name="r", deployment_id="d"),
        "azure.ai.openai",
        None,
        True,
    ),
    ("anthropic", _provider("anthropic", model="claude-x"), "anthropic", "claude-x", True),
    ("mistral", _provider("mistral", model="mistral-large"), "mistral_ai", "mistral-large", True),
    ("xai", _provider("xai", model="grok-2"), "x_ai", "grok-2", True),
    ("google", _provider("google_vertex", model="gemini-2.0", project_id="p"), "gcp.gen_ai", "gemini-2.0", True),
    ("deepseek", _provider("deepseek", model="deepseek-chat"), "deepseek", "deepseek-chat", True),
    ("nvidia", _provider("nvidia", model="llama"), "nvidia", "llama", True),
    ("databricks", _provider("databricks", endpoint="https://db.example"), "databricks", None, True),
    ("friendliai", _provider("friendliai", model="meta-llama"), "friendliai", "meta-llama", True),
    ("ollama", _provider("ollama", model="llama3"), "ollama", "llama3", False),
    (
        "aws-bedrock",
        _provider("aws_bedrock", model="titan", region="us-east-1"),
        "aws.bedrock",
        "titan",
        False,
    ),
    ("anyscale", _provider("anyscale", model="m"), "anyscale", "m", False),
    ("dummy", _provider("dummy"), "dummy", None, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("provider", "name", "model", "usage"),
    [p[1:] for p in PROVIDERS],
    ids=[p[0] for p in PROVIDERS],
)
async def test_each_provider_s_usage_as_weaviate_returns_it(
    movies: Any,
    instrumented: Any,
    span_exporter: Any,
    provider: Any,
    name: str,
    model: Optional[str],
    usage: bool,
) -> None:
    if provider is None:
        pytest.skip("this weaviate-client has no such provider")
    instrumented()
    await movies.generate.fetch_objects(single_prompt=single(), generative_provider=provider)
    expected: Dict[str, Any] = {"gen_ai.provider.name": name}
    if model is not None:
        expected["gen_ai.request.model"] = model
    if usage:
        usages = [single_usage(title) for title in TITLES]
        expected["gen_ai.usage.input_tokens"] = sum(u[0] for u in usages)
        expected["gen_ai.usage.output_tokens"] = sum(u[1] for u in usages)
    assert gen_ai(finished(span_exporter)[0]) == expected


async def test_the_collection_s_own_generative_module_names_no_provider(
    movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    """Without ``generative_provider=`` the request does not say which module answers."""
    instrumented()
    await movies.generate.fetch_objects(single_prompt=PROMPT, grouped_task=TASK)
    assert gen_ai(finished(span_exporter)[0]) == {}


async def test_the_token_usage_histogram(
    movies: Any, instrumented: Any, metric_reader: Any
) -> None:
    instrumented()
    await movies.generate.fetch_objects(single_prompt=single(), generative_provider=COHERE)
    await movies.generate.fetch_objects(grouped_task=grouped(), generative_provider=COHERE)
    await movies.query.fetch_objects()  # not a generation: no point
    await movies.generate.fetch_objects(single_prompt=PROMPT)  # no usage: no point
    [metric] = metrics_named(metric_reader, "gen_ai.client.token.usage")
    assert metric.unit == "{token}"
    points = {
        (p.attributes["gen_ai.token.type"], p.count, p.sum): dict(p.attributes)
        for p in metric_points(metric_reader, "gen_ai.client.token.usage")
    }
    usages = [single_usage(title) for title in TITLES]
    group = grouped_usage(2)
    assert set(points) == {
        ("input", 2, sum(u[0] for u in usages) + group[0]),
        ("output", 2, sum(u[1] for u in usages) + group[1]),
    }
    for (token_type, _, _), attributes in points.items():
        assert attributes == {
            "gen_ai.token.type": token_type,
            "gen_ai.provider.name": "cohere",
            "gen_ai.request.model": "command-r-plus",
        }
    [point] = metric_points(metric_reader, "gen_ai.client.token.usage")[:1]
    assert list(point.explicit_bounds) == TOKEN_BUCKETS


async def test_the_tokens_are_counted_when_the_span_is_sampled_out(
    movies: Any, instrumented: Any, span_exporter: Any, metric_reader: Any, tracer_provider: Any
) -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    tracer_provider.sampler = ALWAYS_OFF
    instrumented()
    await movies.generate.fetch_objects(single_prompt=single(), generative_provider=COHERE)
    assert finished(span_exporter) == []
    sums = {
        p.attributes["gen_ai.token.type"]: p.sum
        for p in metric_points(metric_reader, "gen_ai.client.token.usage")
    }
    usages = [single_usage(title) for title in TITLES]
    assert sums == {"input": sum(u[0] for u in usages), "output": sum(u[1] for u in usages)}


async def test_neither_the_prompt_nor_the_generated_text_is_exported(
    movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented()
    response = await movies.generate.fetch_objects(
        single_prompt=single(), grouped_task=grouped(), generative_provider=COHERE
    )
    exported = exported_text(*finished(span_exporter))
    for text in ["Sum up", TASK, "Stand-in generated", *TITLES, response.generative.text]:
        assert text not in exported


async def test_a_failed_generation_still_names_its_provider_and_model(
    weaviate_server: Any, movies: Any, instrumented: Any, span_exporter: Any
) -> None:
    instrumented()
    weaviate_server.faults.grpc("Search", grpc.StatusCode.UNKNOWN, details="connection to Cohere")
    with pytest.raises(WeaviateQueryError):
        await movies.generate.fetch_objects(single_prompt=single(), generative_provider=COHERE)
    span = finished(span_exporter)[0]
    assert span.attributes["error.type"] == "UNKNOWN"
    assert gen_ai(span) == {
        "gen_ai.provider.name": "cohere",
        "gen_ai.request.model": "command-r-plus",
    }


async def test_elastic_apm_gets_the_counts_as_labels(
    movies: Any, instrumented: Any, apm: Any
) -> None:
    instrumented(backends=["apm"])
    with apm.transaction():
        await movies.generate.fetch_objects(single_prompt=single(), generative_provider=COHERE)
    [span] = await apm.spans()
    usages = [single_usage(title) for title in TITLES]
    labels = span["context"]["tags"]
    assert labels == {
        "gen_ai_provider_name": "cohere",
        "gen_ai_request_model": "command-r-plus",
        "gen_ai_usage_input_tokens": sum(u[0] for u in usages),
        "gen_ai_usage_output_tokens": sum(u[1] for u in usages),
    }
