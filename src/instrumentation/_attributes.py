"""Attribute names, once: from ``opentelemetry.semconv`` where it has them, ours otherwise."""

from __future__ import annotations

from opentelemetry.semconv.attributes.db_attributes import (
    DB_COLLECTION_NAME,
    DB_NAMESPACE,
    DB_OPERATION_BATCH_SIZE,
    DB_OPERATION_NAME,
    DB_QUERY_SUMMARY,
    DB_QUERY_TEXT,
    DB_RESPONSE_STATUS_CODE,
    DB_SYSTEM_NAME,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import HTTP_REQUEST_METHOD
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import URL_FULL

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
    "HTTP_REQUEST_METHOD",
    "OLD_DB_NAME",
    "OLD_DB_OPERATION",
    "OLD_DB_STATEMENT",
    "OLD_DB_SYSTEM",
    "RETURNED_ROWS_BUCKETS",
    "SERVER_ADDRESS",
    "SERVER_PORT",
    "URL_FULL",
    "WEAVIATE_BATCH_FAILED_OBJECTS",
    "WEAVIATE_CONSISTENCY_LEVEL",
    "WEAVIATE_TENANT",
]
