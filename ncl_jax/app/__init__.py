"""A local web page to drop photos on and see where they were edited.

  pip install -e ".[app]"
  python -m ncl_jax.app [--model=NAME | --checkpoint=DIR] [--host=127.0.0.1] [--port=8000]

Serves the newest shipped model unless told otherwise, on 127.0.0.1 unless told
otherwise; every asset comes from the package, so no request leaves the machine.
`server.create_app` builds the Starlette app; `static/` holds the page.
"""
