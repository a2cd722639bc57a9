"""Run the page: `python -m ncl_jax.app [--model=NAME | --checkpoint=DIR] [--port=N]`."""

import socket

from absl import app, flags

from ncl_jax import predict

FLAGS = flags.FLAGS
MODEL_CARD_URL = "https://github.com/ncl-jax/ncl_jax/blob/main/docs/model-card-{name}.md"


def define_flags():
  """Flags, defined only when run as a program."""
  predict.define_model_flags()
  flags.DEFINE_string("host", "127.0.0.1", "Where to listen (0.0.0.0: every interface).")
  flags.DEFINE_integer("port", 8000, "The port (0: any free one).")


def main(argv):
  """Loads the model, compiles it and serves the page until interrupted."""
  del argv
  try:
    import uvicorn

    from ncl_jax.app import server
  except ImportError as error:
    raise app.UsageError(
      f'the page needs the app extra: pip install -e ".[app]" ({error})'
    ) from None
  try:
    predictor = predict.make_predictor(FLAGS.checkpoint, FLAGS.model)
  except LookupError as error:
    raise app.UsageError(str(error)) from None
  name = predictor.model_info.get("name")
  card = MODEL_CARD_URL.format(name=name) if name else ""
  application = server.create_app(predictor, model_card_url=card)
  listener = socket.create_server((FLAGS.host, FLAGS.port))  # bound before it is announced
  host, port = listener.getsockname()[:2]
  print(f"ncl_jax page on http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
  config = uvicorn.Config(application, log_level="warning")
  uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
  define_flags()
  app.run(main)
