"""DB span names: the query summary of the stable database conventions, from the SQL text.

The statements are the services' own, compiled as they are sent; the rest are the
conventions' examples and the shapes the parser must not misread.
"""

import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement

from inventory import stock
from order import claims, reading
from pricing import catalog
from shopkit.db_telemetry import QuerySummary, summarize


def sent(statement: ClauseElement) -> str:
    """The SQL text asyncpg receives for one of the services' statements."""
    return str(statement.compile(dialect=postgresql.asyncpg.dialect()))  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    ("statement", "summary"),
    [
        (reading.ORDER_WITH_LINES, "SELECT orders.orders orders.order_lines"),
        (claims.CLAIM_KEY, "INSERT orders.idempotency_records"),
        (
            claims.PERSIST_ORDER,
            "UPDATE orders.idempotency_records INSERT orders.orders SELECT"
            " INSERT orders.order_lines SELECT SELECT",
        ),
        (stock.LEVELS, "SELECT inventory.stock"),
        (stock.CREATE_RESERVATION, "INSERT inventory.reservations"),
        (
            stock.TAKE_STOCK,
            "SELECT inventory.stock UPDATE inventory.stock SELECT"
            " INSERT inventory.reservation_lines SELECT",
        ),
        (catalog.PRICES, "SELECT pricing.products"),
        (catalog.QUOTE_ROWS, "SELECT pricing.products pricing.promotions"),
    ],
)
def test_every_statement_of_the_services_is_named_by_the_tables_it_touches(
    statement: ClauseElement, summary: str
) -> None:
    assert summarize(sent(statement)).summary == summary


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # The conventions' examples.
        ("SELECT * FROM wuser_table", QuerySummary("SELECT", "wuser_table", "SELECT wuser_table")),
        (
            "INSERT INTO shipping_details (id, address) SELECT o.id, ? FROM orders AS o",
            QuerySummary("INSERT", "shipping_details", "INSERT shipping_details SELECT orders"),
        ),
        (
            "SELECT * FROM songs s, artists a WHERE s.artist_id = a.id",
            QuerySummary("SELECT", "songs", "SELECT songs artists"),
        ),
        (
            "SELECT order_date FROM (SELECT * FROM orders o JOIN customers c"
            " ON o.customer_id = c.customer_id) t",
            QuerySummary("SELECT", "orders", "SELECT SELECT orders customers"),
        ),
        # A self-join names its table once; row locks are not an operation.
        (
            "SELECT a.id FROM users a JOIN users b ON a.boss = b.id FOR UPDATE",
            QuerySummary("SELECT", "users", "SELECT users"),
        ),
        # Quoted names stay as written; literals, comments and FROM inside a call are no tables.
        (
            'SELECT EXTRACT(YEAR FROM made) FROM "public"."Users" WHERE n = \'FROM x\' -- FROM y',
            QuerySummary("SELECT", '"public"."Users"', 'SELECT "public"."Users"'),
        ),
        # Common table expressions and functions are not tables.
        (
            "WITH gone AS (DELETE FROM t WHERE id = $1 RETURNING id) SELECT id FROM gone,"
            " unnest($2) AS u(x)",
            QuerySummary("DELETE", "t", "DELETE t SELECT"),
        ),
        (
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET a = excluded.a",
            QuerySummary("INSERT", "t", "INSERT t"),
        ),
        ("BEGIN", QuerySummary("BEGIN", None, "BEGIN")),
        ("", QuerySummary(None, None, None)),
    ],
)
def test_the_summary_follows_the_conventions(sql: str, expected: QuerySummary) -> None:
    assert summarize(sql) == expected


def test_a_summary_is_at_most_255_characters_and_cut_between_words() -> None:
    sql = " UNION ".join(f"SELECT a FROM table_number_{n}" for n in range(40))
    summary = summarize(sql).summary
    assert summary is not None
    words = summary.split()
    assert len(summary) <= 255
    assert len(summary) > 255 - len(" table_number_99")
    # Whole words, in order: a prefix of the summary it would be without the limit.
    assert words == [w for n in range(40) for w in ("SELECT", f"table_number_{n}")][: len(words)]
