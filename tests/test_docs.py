"""The generated docs pages and the README's results table are what the committed
JSON gives."""

from tools import generate_docs


def test_generated_tables_are_current():
  assert generate_docs.stale_pages() == [], "run python tools/generate_docs.py"
