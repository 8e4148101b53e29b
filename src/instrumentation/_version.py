__version__ = "0.1.0"
#: The instrumentation scope of our tracer and meter: the distribution's name, so a scope filter in
#: any backend says which library recorded a span.
SCOPE_NAME = "async-search-instrumentation"
