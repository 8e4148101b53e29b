"""Attribute names, once: from ``opentelemetry.semconv`` where it has them, ours otherwise."""

from __future__ import annotations

from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import HTTP_REQUEST_METHOD
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import URL_FULL

_db: object
try:  # the stable database names, published from semantic-conventions 0.54b0 on
    from opentelemetry.semconv.attributes import db_attributes as _db
except ImportError:  # older releases: the same names, as the conventions (v1.26 on) spell them
    _db = None

DB_COLLECTION_NAME: str = getattr(_db, "DB_COLLECTION_NAME", "db.collection.name")
DB_NAMESPACE: str = getattr(_db, "DB_NAMESPACE", "db.namespace")
DB_OPERATION_BATCH_SIZE: str = getattr(_db, "DB_OPERATION_BATCH_SIZE", "db.operation.batch.size")
DB_OPERATION_NAME: str = getattr(_db, "DB_OPERATION_NAME", "db.operation.name")
DB_QUERY_SUMMARY: str = getattr(_db, "DB_QUERY_SUMMARY", "db.query.summary")
DB_QUERY_TEXT: str = getattr(_db, "DB_QUERY_TEXT", "db.query.text")
DB_RESPONSE_STATUS_CODE: str = getattr(_db, "DB_RESPONSE_STATUS_CODE", "db.response.status_code")
DB_SYSTEM_NAME: str = getattr(_db, "DB_SYSTEM_NAME", "db.system.name")

DB_OPERATION_PARAMETER = "db.operation.parameter."
DB_RESPONSE_RETURNED_ROWS = "db.response.returned_rows"
DB_CLIENT_OPERATION_DURATION = "db.client.operation.duration"
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
#: ``db.client.response.returned_rows`` (development in the conventions; ``record_returned_rows``).
DB_CLIENT_RESPONSE_RETURNED_ROWS = "db.client.response.returned_rows"
RETURNED_ROWS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

# Pre-1.26 names, emitted beside the stable ones with OTEL_SEMCONV_STABILITY_OPT_IN=database/dup.
OLD_DB_SYSTEM = "db.system"
OLD_DB_STATEMENT = "db.statement"
OLD_DB_NAME = "db.name"
OLD_DB_OPERATION = "db.operation"

ELASTICSEARCH_NODE_NAME = "elasticsearch.node.name"
ELASTICSEARCH_BULK_FAILED_ITEMS = "elasticsearch.bulk.failed_items"
WEAVIATE_TENANT = "weaviate.tenant"
WEAVIATE_CONSISTENCY_LEVEL = "weaviate.consistency.level"
WEAVIATE_BATCH_FAILED_OBJECTS = "weaviate.batch.failed_objects"

# GenAI conventions (development status; not in every semconv package we accept, so written here):
# the generation of a Weaviate ``generate.*`` call.
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
GEN_AI_CLIENT_TOKEN_USAGE = "gen_ai.client.token.usage"
#: The conventions' advisory bucket boundaries for ``gen_ai.client.token.usage``.
TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864
)  # fmt: skip

__all__ = [
    "DB_CLIENT_OPERATION_DURATION",
    "DB_CLIENT_RESPONSE_RETURNED_ROWS",
    "DB_COLLECTION_NAME",
    "DB_NAMESPACE",
    "DB_OPERATION_BATCH_SIZE",
    "DB_OPERATION_NAME",
    "DB_OPERATION_PARAMETER",
    "DB_QUERY_SUMMARY",
    "DB_QUERY_TEXT",
    "DB_RESPONSE_RETURNED_ROWS",
    "DB_RESPONSE_STATUS_CODE",
    "DB_SYSTEM_NAME",
    "DURATION_BUCKETS",
    "ELASTICSEARCH_BULK_FAILED_ITEMS",
    "ELASTICSEARCH_NODE_NAME",
    "ERROR_TYPE",
    "GEN_AI_CLIENT_TOKEN_USAGE",
    "GEN_AI_PROVIDER_NAME",
    "GEN_AI_REQUEST_MODEL",
    "GEN_AI_TOKEN_TYPE",
    "GEN_AI_USAGE_INPUT_TOKENS",
    "GEN_AI_USAGE_OUTPUT_TOKENS",
    "HTTP_REQUEST_METHOD",
    "OLD_DB_NAME",
    "OLD_DB_OPERATION",
    "OLD_DB_STATEMENT",
    "OLD_DB_SYSTEM",
    "RETURNED_ROWS_BUCKETS",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "TOKEN_BUCKETS",
    "URL_FULL",
    "WEAVIATE_BATCH_FAILED_OBJECTS",
    "WEAVIATE_CONSISTENCY_LEVEL",
    "WEAVIATE_TENANT",
]
