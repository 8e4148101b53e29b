"""Secrets never reach telemetry, whatever the capture setting.

The real clients are configured with every kind of credential they take: for Elasticsearch a
``user:password`` URL, ``api_key`` (string and ``(id, key)``), ``basic_auth``, ``bearer_auth``,
``cloud_id``, custom headers and per-request ``options(...)``; for Weaviate an API key,
``X-OpenAI-Api-Key`` and similar vendor headers, and the three OIDC flows (resource-owner
password, bearer token with refresh token, client credentials) against an OIDC provider the
stand-in plays. They make successful and failing calls with both backends on, inside an APM
transaction; then everything exported is serialised (every OpenTelemetry span with its resource,
the metric data, every event the APM intake received) and searched for each secret, in the forms
the clients put on the wire too (``Basic``/``ApiKey`` base64, URL-encoded).

``test_the_scan_finds_a_planted_secret`` shows the search would see a leak in either export.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Callable, Dict, Iterable, List
from urllib.parse import quote

import elasticapm
import pytest
import weaviate.classes as wvc
from elasticsearch import AsyncElasticsearch

from tests.servers.weaviate_rest import WeaviateStandIn, connect_async_client
from tests.support.apm import ApmRecorder
from tests.support.outcomes import outcome_of

MODES = ["omit", "sanitize", "raw"]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forms(secret: str) -> List[str]:
    """A secret and the ways a client may encode it."""
    return [secret, quote(secret, safe=""), b64(secret)]


def exported(span_exporter: Any, metric_reader: Any, apm_intake: Any) -> str:
    parts = [span.to_json() for span in span_exporter.get_finished_spans()]
    metrics = metric_reader.get_metrics_data()
    if metrics is not None:
        parts.append(metrics.to_json())
    for kind in ("metadata", "transactions", "spans", "errors", "metricsets", "logs"):
        parts.append(json.dumps(getattr(apm_intake, kind), default=str))
    return "\n".join(parts)


def assert_absent(text: str, secrets: Iterable[str]) -> None:
    for secret in secrets:
        for form in forms(secret):
            assert form not in text, f"secret {secret!r} exported (as {form!r})"


# -- Elasticsearch --------------------------------------------------------------------------------
URL_USER, URL_PASSWORD = "url-user-secret", "Url-Pa55word-secret"
API_KEY = "ZXMtYXBpLWtleS1zZWNyZXQ="
API_KEY_ID, API_KEY_KEY = "api-key-id-secret", "api-key-key-secret"
BASIC_USER, BASIC_PASSWORD = "basic-user-secret", "Basic-Pa55word-secret"
BEARER = "es-bearer-token-secret"
HEADER = "x-custom-header-secret"
OPTIONS_KEY = "per-request-api-key-secret"
CLOUD_NAME = "cloud-deployment-secret"
ES_SECRETS = [
    URL_USER,
    URL_PASSWORD,
    f"{URL_USER}:{URL_PASSWORD}",
    API_KEY,
    API_KEY_ID,
    API_KEY_KEY,
    f"{API_KEY_ID}:{API_KEY_KEY}",
    BASIC_USER,
    BASIC_PASSWORD,
    f"{BASIC_USER}:{BASIC_PASSWORD}",
    BEARER,
    HEADER,
    OPTIONS_KEY,
    CLOUD_NAME,
]


def cloud_id(server: Any) -> str:
    """A cloud id whose host decodes to the stand-in ("127.0.0" + "." + "1"): the client speaks
    TLS to it, which fails, so its spans are failures, exported all the same."""
    return f"{CLOUD_NAME}:" + b64(f"1:{server.port}$127.0.0$kibana")


def es_clients(server: Any) -> Dict[str, Callable[[], AsyncElasticsearch]]:
    host = f"127.0.0.1:{server.port}"
    return {
        "url-credentials": lambda: AsyncElasticsearch(
            f"http://{URL_USER}:{URL_PASSWORD}@{host}", headers={"X-Custom": HEADER}
        ),
        "api-key": lambda: AsyncElasticsearch(f"http://{host}", api_key=API_KEY),
        "api-key-tuple": lambda: AsyncElasticsearch(
            f"http://{host}", api_key=(API_KEY_ID, API_KEY_KEY)
        ),
        "basic-auth": lambda: AsyncElasticsearch(
            f"http://{host}", basic_auth=(BASIC_USER, BASIC_PASSWORD)
        ),
        "bearer-auth": lambda: AsyncElasticsearch(f"http://{host}", bearer_auth=BEARER),
        "cloud-id": lambda: AsyncElasticsearch(
            cloud_id=cloud_id(server), api_key=API_KEY, max_retries=0, request_timeout=2
        ),
    }


async def es_calls(es: AsyncElasticsearch, server: Any) -> None:
    server.faults.add(path="_count", status=401)
    for call in (
        lambda: es.info(),
        lambda: es.index(index="movies", id="1", document={"title": "Alien"}),
        lambda: es.search(index="movies", query={"match": {"title": "alien"}}),
        lambda: es.get(index="movies", id="missing"),
        lambda: es.count(index="movies"),  # 401
        lambda: es.bulk(operations=[{"index": {"_index": "movies"}}, {"title": "Heat"}]),
        lambda: es.options(api_key=OPTIONS_KEY).search(index="movies"),
        lambda: es.options(headers={"Authorization": f"Bearer {BEARER}"}).info(),
    ):
        await outcome_of(call)


@pytest.mark.parametrize("mode", MODES)
async def test_no_elasticsearch_credential_in_any_export(
    elasticsearch_server: Any,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    apm_intake: Any,
    apm: ApmRecorder,
    mode: str,
) -> None:
    instrumented(backends=["otel", "apm"], capture_query=mode)
    clients = es_clients(elasticsearch_server)
    with apm.transaction():
        for make in clients.values():
            async with make() as es:
                await es_calls(es, elasticsearch_server)
    apm_spans = await apm.spans()
    text = exported(span_exporter, metric_reader, apm_intake)
    # Everything was recorded: the scan below looked at something.
    assert len(span_exporter.get_finished_spans()) == len(apm_spans) >= 8 * len(clients) - 6
    assert "url.full" in text and "db.operation.name" in text
    assert_absent(text, [*ES_SECRETS, cloud_id(elasticsearch_server)])


# -- Weaviate -------------------------------------------------------------------------------------
WV_API_KEY = "wv-api-key-secret"
VENDOR_HEADERS = {
    "X-OpenAI-Api-Key": "sk-openai-secret",
    "X-Cohere-Api-Key": "cohere-key-secret",
    "X-HuggingFace-Api-Key": "hf-key-secret",
    "X-Azure-Api-Key": "azure-key-secret",
    "X-Goog-Studio-Api-Key": "google-key-secret",
}
OIDC_USER, OIDC_PASSWORD = "oidc-user-secret", "Oidc-Pa55word-secret"
ACCESS_TOKEN, REFRESH_TOKEN = "oidc-access-token-secret", "oidc-refresh-token-secret"
CLIENT_SECRET = "oidc-client-secret"
WV_SECRETS = [
    WV_API_KEY,
    *VENDOR_HEADERS.values(),
    OIDC_USER,
    OIDC_PASSWORD,
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    CLIENT_SECRET,
]


def serve_oidc(server: WeaviateStandIn) -> None:
    """The stand-in plays an OIDC provider too: discovery, configuration, token endpoint."""
    faults = server.faults
    faults.http(
        r"/\.well-known/openid-configuration$",
        200,
        body={"href": f"{server.url}/oidc/config", "clientId": "wcs", "scopes": ["openid"]},
        times=-1,
    )
    faults.http(
        r"^/oidc/config$",
        200,
        body={
            "token_endpoint": f"{server.url}/oidc/token",
            "grant_types_supported": ["password", "client_credentials", "refresh_token"],
        },
        times=-1,
    )
    faults.http(
        r"^/oidc/token$",
        200,
        body={
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": REFRESH_TOKEN,
        },
        times=-1,
    )


WEAVIATE_AUTH = {
    "api-key": {"auth_credentials": wvc.init.Auth.api_key(WV_API_KEY), "headers": VENDOR_HEADERS},
    "oidc-password": {"auth_credentials": wvc.init.Auth.client_password(OIDC_USER, OIDC_PASSWORD)},
    "oidc-bearer": {
        "auth_credentials": wvc.init.Auth.bearer_token(
            ACCESS_TOKEN, expires_in=3600, refresh_token=REFRESH_TOKEN
        )
    },
    "oidc-client-credentials": {
        "auth_credentials": wvc.init.Auth.client_credentials(CLIENT_SECRET),
        "headers": VENDOR_HEADERS,
    },
}


async def weaviate_calls(client: Any, server: WeaviateStandIn, name: str) -> None:
    movies = await client.collections.create(
        name, properties=[wvc.config.Property(name="title", data_type=wvc.config.DataType.TEXT)]
    )
    server.faults.http(r"^/v1/objects$", 401, method="POST")
    for call in (
        lambda: movies.data.insert({"title": "Alien"}),  # 401
        lambda: movies.data.insert({"title": "Alien"}),
        lambda: movies.data.insert_many([{"title": "Heat"}, {"title": "Up"}]),
        lambda: movies.query.hybrid("alien"),
        lambda: movies.query.near_text("alien"),
        lambda: movies.generate.fetch_objects(single_prompt="Describe {title}"),
        lambda: movies.query.fetch_object_by_id("00000000-0000-0000-0000-000000000000"),
        lambda: client.collections.use("Missing").config.get(),  # 404
    ):
        await outcome_of(call)


@pytest.mark.parametrize("mode", MODES)
async def test_no_weaviate_credential_in_any_export(
    weaviate_server: WeaviateStandIn,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    apm_intake: Any,
    apm: ApmRecorder,
    mode: str,
) -> None:
    serve_oidc(weaviate_server)
    instrumented(backends=["otel", "apm"], capture_query=mode)
    with apm.transaction():
        for number, options in enumerate(WEAVIATE_AUTH.values()):
            client = await connect_async_client(weaviate_server, **options)
            async with client:
                await weaviate_calls(client, weaviate_server, f"Movie{number}")
    apm_spans = await apm.spans()
    # The credentials really were used: tokens fetched, headers sent.
    token_requests = [r.body for r in weaviate_server.rest_requests if r.path == "/oidc/token"]
    assert any(OIDC_PASSWORD.encode() in body for body in token_requests)
    assert any(CLIENT_SECRET.encode() in body for body in token_requests)
    sent = [r.headers for r in weaviate_server.rest_requests if r.path.startswith("/v1/")]
    assert any(h.get("authorization") == f"Bearer {ACCESS_TOKEN}" for h in sent)
    assert any(h.get("authorization") == f"Bearer {WV_API_KEY}" for h in sent)
    assert any(h.get("x-openai-api-key") == VENDOR_HEADERS["X-OpenAI-Api-Key"] for h in sent)
    text = exported(span_exporter, metric_reader, apm_intake)
    assert len(span_exporter.get_finished_spans()) == len(apm_spans) >= 9 * len(WEAVIATE_AUTH)
    assert "url.full" in text and "db.operation.name" in text
    assert_absent(text, WV_SECRETS)


# -- the scan can fail ----------------------------------------------------------------------------
async def test_the_scan_finds_a_planted_secret(
    elasticsearch_server: Any,
    instrumented: Any,
    span_exporter: Any,
    metric_reader: Any,
    apm_intake: Any,
    apm: ApmRecorder,
) -> None:
    def plant(span: Any, call: Any) -> None:
        if call.operation == "info":
            span.set_attribute("app.leak", BEARER)  # the OpenTelemetry span
        else:
            span.set_attribute("app.leak", BASIC_PASSWORD)
            elasticapm.label(app_leak=BASIC_PASSWORD)  # an APM label, on the transaction

    instrumented(backends=["otel", "apm"], request_hook=plant)
    with apm.transaction():
        async with AsyncElasticsearch(elasticsearch_server.url) as es:
            await es.info()
            await es.count()
    await apm.spans()
    text = exported(span_exporter, metric_reader, apm_intake)
    for planted in (BEARER, BASIC_PASSWORD):
        with pytest.raises(AssertionError, match="exported"):
            assert_absent(text, [planted])
    apm_text = json.dumps([*apm_intake.spans, *apm_intake.transactions])
    with pytest.raises(AssertionError, match="exported"):
        assert_absent(apm_text, [BASIC_PASSWORD])
