r"""Seconds per photo of `python -m ncl_jax.predict`, from its predictions.jsonl.

  python -m ncl_jax.predict --output=OUT TEST/Tp
  python benchmarks/predict_time.py --predictions=OUT --output=benchmarks/predict_photos_v1.json

predict records each photo's seconds (reading, predicting and writing its
pictures); the first photo's include compiling the model, so it is reported
apart from the median and max of the others, with the photos' sizes.
"""

import json
import pathlib

import numpy as np
from absl import app, flags
from PIL import Image

from ncl_jax import paths, provenance

FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program."""
  flags.DEFINE_string("predictions", None, "The --output folder of ncl_jax.predict.")
  flags.DEFINE_string("output", None, "The JSON to write.")
  flags.DEFINE_string("what", "", "What was predicted, in words.")
  flags.mark_flags_as_required(["predictions", "output"])


def main(argv):
  """Writes the timing JSON."""
  del argv
  lines = (pathlib.Path(FLAGS.predictions) / "predictions.jsonl").read_text().splitlines()
  records = [json.loads(line) for line in lines]
  done = [r for r in records if "seconds" in r]
  if len(done) < 2:
    raise app.UsageError(f"{FLAGS.predictions}: fewer than two photos were predicted")
  seconds = np.array([r["seconds"] for r in done[1:]])
  sides = [max(Image.open(r["file"]).size) for r in done]
  model = done[0].get("model", {})
  result = {
    "what": FLAGS.what or f"{len(done)} photos, long side {min(sides)}-{max(sides)} px",
    "model": model,
    "strategy": done[0].get("strategy"),
    "views": done[0].get("views"),
    "num_photos": len(done),
    "long_side_px": [min(sides), max(sides)],
    "seconds_per_photo": {
      "first": done[0]["seconds"],
      "median": float(np.median(seconds)),
      "max": float(seconds.max()),
    },
    **provenance.provenance(),
  }
  paths.write_json(FLAGS.output, result, indent=1)
  print(json.dumps(result["seconds_per_photo"]))


if __name__ == "__main__":
  define_flags()
  app.run(main)
