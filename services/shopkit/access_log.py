"""uvicorn's access log without query strings, for whoever runs a service with it on.

The chart and the local stack run uvicorn with `--no-access-log` (server spans and
http.server.request.duration record every request). Someone who turns it back on should not
get customer ids in clear in every line: `GET /orders?customer_id=alice` is logged as
`GET /orders`.
"""

import logging

ACCESS_LOGGER = "uvicorn.access"


class WithoutQueryString(logging.Filter):
    """Cuts the query string off the path argument of uvicorn's access log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs '%s - "%s %s HTTP/%s" %d' % (client, method, path?query, version, status).
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], *args[3:])
        return True


def strip_query_strings() -> None:
    """Install the filter on uvicorn's access logger, once per process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, WithoutQueryString) for f in logger.filters):
        logger.addFilter(WithoutQueryString())
