r"""The untouched validation images a run scores highest, each drawn as the photo
beside its heat map: what the map covers where nothing was edited.

  PYTHONPATH=. python tools/false_alarms.py --workdir=runs/photos-v2 --step=2000 \
      --output=runs/photos-v2/false_alarms

Predicts every untouched validation image once as `ncl_jax.release` does (each file
read as `ncl_jax.predict` reads files, at default flags), and writes the `--count`
highest-scoring as `RANK_SCORE.png` with `false_alarms.json` listing them. The
pictures show the photos, so they stay out of the repository.
"""

import heapq
import io
import json
import pathlib

import numpy as np
from absl import app, flags
from PIL import Image

from ncl_jax import paths, provenance, release
from ncl_jax.serving import visualize

FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program."""
  flags.DEFINE_list("workdir", None, "The training run's workdir; several: their ensemble.")
  flags.DEFINE_integer("step", None, "The checkpoint (default: the best on validation).")
  flags.DEFINE_integer("count", 8, "How many of the highest-scoring untouched images.")
  flags.DEFINE_string("output", None, "The folder of the pictures and their JSON.")
  flags.mark_flags_as_required(["workdir", "output"])


def photo_beside_map(image_bytes: bytes, probabilities) -> np.ndarray:
  """The photo and its heat map side by side, uint8 [H, 2 * W, 3]; the map [H, W]
  is at the photo's size, as predict returns it."""
  photo = np.asarray(Image.open(io.BytesIO(image_bytes)).convert("RGB"))
  return np.concatenate([photo, visualize.heatmap(probabilities)], axis=1)


def highest_scoring(records, predictions, count: int) -> list:
  """The `count` (score, record, probabilities) of the highest image scores, from
  records and their predictions (release.predicted_records, in the same order)."""
  scored = (
    (score, record, probabilities)
    for record, (_, probabilities, _, score) in zip(records, predictions)
  )
  return heapq.nlargest(count, scored, key=lambda item: item[0])


def main(argv):
  """Predicts the untouched validation images and writes the highest-scoring."""
  del argv
  predictor, steps = release.restored_predictor(FLAGS.workdir, FLAGS.step)
  records, _ = release.validation_records(predictor.config)
  untouched = [r for r in records if r["manipulation_type"] == "authentic"]
  predictions = release.predicted_records(predictor, untouched)
  output = pathlib.Path(FLAGS.output)
  output.mkdir(parents=True, exist_ok=True)
  listed = []
  for rank, (score, record, probabilities) in enumerate(
    highest_scoring(untouched, predictions, FLAGS.count)
  ):
    name = f"{rank:02d}_{score:.3f}.png"
    Image.fromarray(photo_beside_map(record["image"], probabilities)).save(output / name)
    listed.append({"picture": name, "score": score, "photo": str(record.get("photo", ""))})
  summary = {
    "workdir": release.one_or_each(FLAGS.workdir),
    "step": release.one_or_each(steps),
    "untouched_images": len(untouched),
    "highest_scoring": listed,
    **provenance.provenance(),
  }
  paths.write_json(str(output / "false_alarms.json"), summary, indent=1)
  print(json.dumps(listed, indent=1))


if __name__ == "__main__":
  define_flags()
  app.run(main)
