"""The generated docs pages are what the committed JSON gives."""

from tools import generate_docs


def test_results_and_speed_pages_are_current():
  assert generate_docs.stale_pages() == [], "run python tools/generate_docs.py"
