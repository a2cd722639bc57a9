r"""A shipped model on its validation forgeries predicted at several sizes, and every
combination of those sizes averaged: pixel F1 at 0.5, pixel AUC and image AUC per
kind of edit, and the share called edited at 5% false alarms, as tools/recipe_ab.py
writes them for one size.

  PYTHONPATH=. python tools/prediction_scales.py --pretrained=photos-v2 \
      --sizes=384,512,640 --output=docs/results/prediction_scales/photos_v2.json

Each validation file is predicted once per size as `ncl_jax.predict` reads files
(resized to that size instead of the training size, the model's views each), and
each combination's map is the mean of its sizes' maps at the file's size; its image
score is the map's `--image_score_quantile`. Each combination's figures are also
given for the files in bins of their long side (`--long_side_edges`), which selects
nothing: it says which files each size reads best. docs/recipe.md reads the JSON.
"""

import copy
import itertools
import json
import pathlib

import numpy as np
from absl import app, flags

from configs import recipe_ab as recipe_arms
from ncl_jax import provenance, release
from ncl_jax.serving import pretrained as pretrained_lib
from ncl_jax.serving.predictor import Predictor
from ncl_jax.serving.scoring import image_scorer

FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program."""
  flags.DEFINE_string("pretrained", None, "The shipped model.")
  flags.DEFINE_list("sizes", ["384", "512", "640"], "Sizes each file is resized to.")
  flags.DEFINE_float("image_score_quantile", 0.995, "The map quantile that scores an image.")
  flags.DEFINE_list("long_side_edges", ["512", "768"], "Bins of the files' long side, in px.")
  flags.DEFINE_enum(
    "validation", "", ["", *recipe_arms.VALIDATIONS], "Other forgeries (configs/recipe_ab.py)."
  )
  flags.DEFINE_string("output", None, "Where to write the JSON.")
  flags.mark_flags_as_required(["pretrained", "output"])


def combinations(sizes) -> list[tuple]:
  """Every non-empty combination of `sizes`, smallest first."""
  return [c for n in range(1, len(sizes) + 1) for c in itertools.combinations(sizes, n)]


def sized_predictors(shipped: Predictor, sizes) -> dict:
  """{size: the shipped network predicting files resized to size x size}."""
  predictors = {}
  for size in sizes:
    config = copy.deepcopy(shipped.config)
    config.image_size = size
    predictors[size] = Predictor(config, shipped.variables, members=shipped.members)
  return predictors


def predicted_sizes(predictors: dict, records):
  """Yields (kind, {size: probabilities [H, W] float16}, mask [H, W]) of each record,
  each file predicted at every size as ncl_jax.predict reads files."""
  for record, path in release.record_files(records):
    maps = {s: p.predict(path).probabilities.astype(np.float16) for s, p in predictors.items()}
    yield record["manipulation_type"], maps, np.asarray(record["mask"]).squeeze()


def figures_by_long_side(results, threshold: float, edges) -> list:
  """release.validation_figures' "all edited" and "authentic" figures of the files
  whose long side (of the map [H, W]) lies in each bin: below the first of `edges`,
  between two, from the last on; image AUC against the bin's untouched files."""
  bounds = [0, *edges, None]
  bins = []
  for low, high in zip(bounds[:-1], bounds[1:]):
    inside = [
      r for r in results if low <= max(r[1].shape) and (high is None or max(r[1].shape) < high)
    ]
    figures = release.validation_figures(inside, threshold)
    bins.append({"long_side": [low, high], **{k: figures[k] for k in ("all edited", "authentic")}})
  return bins


def combination_figures(
  predicted: list, sizes: tuple, scorer, false_alarm_rate=0.05, long_side_edges=()
) -> dict:
  """release.validation_figures of the maps of `sizes` averaged, each scored by
  `scorer` (probabilities [H, W] -> score), at the threshold calling
  `false_alarm_rate` of the untouched images edited; with that threshold, and the
  figures by the files' long side between `long_side_edges` (figures_by_long_side)."""
  results = []
  for kind, maps, mask in predicted:
    probabilities = np.mean([maps[s].astype(np.float32) for s in sizes], axis=0)
    results.append((kind, probabilities, mask, scorer(probabilities)))
  authentic = [r[3] for r in results if r[0] == "authentic"]
  threshold = release.decision_threshold(authentic, false_alarm_rate)
  return {
    "sizes": list(sizes),
    "threshold_at_5_percent_false_alarms": threshold,
    "figures": release.validation_figures(results, threshold),
    "by_long_side": figures_by_long_side(results, threshold, long_side_edges),
  }


def main(argv):
  """Predicts the validation at every size, measures every combination, writes the JSON."""
  del argv
  sizes = [int(size) for size in FLAGS.sizes]
  edges = [int(edge) for edge in FLAGS.long_side_edges]
  shipped = Predictor.from_pretrained(FLAGS.pretrained)
  shipped.config.image_score_quantile = FLAGS.image_score_quantile
  if FLAGS.validation:
    recipe_arms.VALIDATIONS[FLAGS.validation](shipped.config.dataset)
  records, split = release.validation_records(shipped.config)
  print(f"predicting {split} at sizes {sizes}")
  predicted = list(predicted_sizes(sized_predictors(shipped, sizes), records))
  scorer = image_scorer(shipped.config, shipped.variables)
  record = {
    "pretrained": FLAGS.pretrained,
    "pretrained_sha256": pretrained_lib.read_info(FLAGS.pretrained)["sha256"],
    "training_size": shipped.image_size,
    "views": shipped.views,
    "image_score_quantile": FLAGS.image_score_quantile,
    "validation": split,
    "validation_recipe": FLAGS.validation or "the model's",
    "long_side_edges": edges,
    "combinations": [
      combination_figures(predicted, c, scorer, long_side_edges=edges) for c in combinations(sizes)
    ],
    **provenance.provenance(),
  }
  output = pathlib.Path(FLAGS.output)
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_text(json.dumps(record, indent=1) + "\n")
  for entry in record["combinations"]:
    print(entry["sizes"], json.dumps(entry["figures"]["all edited"]))


if __name__ == "__main__":
  define_flags()
  app.run(main)
