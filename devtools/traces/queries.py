"""N+1 queries: the same statement run again and again under one span."""

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from devtools.traces.model import Span, Trace

# One pass, left to right, so a quote inside a comment or `--` inside a string is not misread.
_LITERAL_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|/\*.*?\*/|--[^\n]*", re.DOTALL)
# asyncpg's $1, psycopg's %s and %(name)s, qmark's ?, and :name (but not a ::cast).
_PLACEHOLDER = re.compile(r"\$\d+|%\(\w+\)s|%s|(?<![:\w]):[A-Za-z_]\w*")
_NUMBER = re.compile(r"(?<![\w.$?])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
# SQLAlchemy's asyncpg dialect types its parameters ($1::VARCHAR); the type is not the query.
_CAST = re.compile(r"\?(?:::\w+(?:\([\d?\s,]*\))?(?:\[\])*)+")
_IN_LIST = re.compile(r"\bIN\s*\(\s*\?(?:\s*,\s*\?)*\s*\)", re.IGNORECASE)


def normalize_statement(sql: str) -> str:
    """One SQL statement's shape: literals and placeholders as ?, IN lists as IN (...)."""
    text = _LITERAL_OR_COMMENT.sub(lambda m: "?" if m[0].startswith("'") else " ", sql)
    text = _PLACEHOLDER.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = _CAST.sub("?", text)
    text = " ".join(text.split())
    return _IN_LIST.sub("IN (...)", text)


@dataclass(frozen=True)
class RepeatedQuery:
    """The same statement run `min_repeats` times or more by one parent span: an N+1."""

    service: str
    parent_operation: str
    statement: str
    traces: int
    calls: int
    max_calls: int
    duration_us: int
    example_trace_id: str


def find_repeated_queries(traces: Iterable[Trace], min_repeats: int) -> list[RepeatedQuery]:
    """N+1 patterns, one per (service, parent operation, statement), costliest first."""
    seen: dict[tuple[str, str, str], list[tuple[str, int, int]]] = defaultdict(list)
    for trace in traces:
        for parent_id, siblings in trace.children.items():
            groups: dict[tuple[str, str], list[Span]] = defaultdict(list)
            for span in siblings:
                if (statement := span.statement) is not None:
                    groups[span.service, normalize_statement(statement)].append(span)
            parent = trace.by_id[parent_id]
            for (service, statement), spans in groups.items():
                if len(spans) >= min_repeats:
                    cost = sum(s.duration_us for s in spans)
                    key = (service, parent.operation, statement)
                    seen[key].append((trace.trace_id, len(spans), cost))
    findings = [
        RepeatedQuery(
            service=service,
            parent_operation=parent_operation,
            statement=statement,
            traces=len({trace_id for trace_id, _, _ in hits}),
            calls=sum(calls for _, calls, _ in hits),
            max_calls=max(calls for _, calls, _ in hits),
            duration_us=sum(cost for _, _, cost in hits),
            example_trace_id=max(hits, key=lambda hit: (hit[1], hit[2]))[0],
        )
        for (service, parent_operation, statement), hits in seen.items()
    ]
    return sorted(findings, key=lambda f: (-f.duration_us, f.service, f.statement))
