"""Sphinx configuration of the ncl_jax docs (MyST Markdown pages, API from docstrings).

pip install -e ".[docs]" && python -m sphinx -W -b html docs docs/_build
"""

import ncl_jax

project = "ncl_jax"
author = "the ncl_jax authors"
copyright = "the ncl_jax authors, Apache-2.0"  # noqa: A001  (Sphinx's name)
release = ncl_jax.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "results/*.json"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False}
# Docstrings are plain text with code in backquotes, not reStructuredText roles.
default_role = "literal"
html_theme = "alabaster"
html_static_path = []


def _docstring_as_text(app, what, name, obj, options, lines):
  """Docstrings are plain text (shapes, formulas, examples): shown as they are."""
  del app, what, name, obj, options
  if any(line.strip() for line in lines):
    lines[:] = ["::", ""] + ["   " + line for line in lines] + [""]


def setup(app):
  """Registers the docstring hook."""
  app.connect("autodoc-process-docstring", _docstring_as_text)
