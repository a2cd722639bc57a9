r"""A run's operating points on its validation forgeries: for each image score (a
quantile of the probability map, or of its window means), image AUC and the share
called edited at a false-alarm rate; for each threshold of the map, pixel F1 per
kind of edit and the share of untouched pixels above it.

  PYTHONPATH=. python tools/operating_points.py --workdir=runs/photos-v2 --step=2000 \
      --output=docs/results/operating_points/photos_v2_seed0.json

Predicts every validation image once as `ncl_jax.release` does (each file read as
`ncl_jax.predict` reads files, at default flags). docs/recipe.md reads the JSONs.
"""

import json

import numpy as np
from absl import app, flags

from ncl_jax import metrics, paths, provenance, release

FLAGS = flags.FLAGS
ALL_EDITED = "all edited"


def define_flags():
  """Flags, defined only when run as a program."""
  flags.DEFINE_list("workdir", None, "The training run's workdir; several: their ensemble.")
  flags.DEFINE_integer("step", None, "The checkpoint (default: the best on validation).")
  flags.DEFINE_list("quantiles", ["0.9", "0.95", "0.98", "0.99", "0.995", "0.999", "1"], "")
  flags.DEFINE_list(
    "windows", ["0"], "Window sides, as fractions of the map's short side (window_means)."
  )
  flags.DEFINE_list("thresholds", [f"{t / 20:g}" for t in range(2, 19)], "Map thresholds.")
  flags.DEFINE_float("false_alarm_rate", 0.05, "Share of untouched images called edited.")
  flags.DEFINE_string("output", None, "Where to write the JSON.")
  flags.mark_flags_as_required(["workdir", "output"])


def window_means(probabilities, window: float) -> np.ndarray:
  """[H, W] -> [H - k + 1, W - k + 1]: the mean of the map over every k x k window
  inside it, k = `window` x the short side, rounded (at least 1: the map itself)."""
  probabilities = np.asarray(probabilities, np.float64)
  k = max(1, round(window * min(probabilities.shape)))
  if k == 1:
    return probabilities
  integral = np.pad(probabilities.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
  sums = integral[k:, k:] - integral[:-k, k:] - integral[k:, :-k] + integral[:-k, :-k]
  return sums / (k * k)


def score_points(windows, quantiles) -> list:
  """(window, quantile) of each image score: every quantile of every window's means."""
  return [(float(w), float(q)) for w in windows for q in quantiles]


def image_scores(probabilities, points) -> list:
  """The image score at each (window, quantile) of `points`, of one map [H, W]."""
  means = {window: window_means(probabilities, window) for window, _ in points}
  return [metrics.image_score(means[window], quantile) for window, quantile in points]


def operating_point_arrays(results, points, thresholds) -> dict:
  """Of release.predicted_records' results (read once: it may be a generator):
  "kinds" [images]; "scores" [images, points], each map's image score at each
  (window, quantile) of `points` (score_points);
  "pixel_f1" [images, thresholds], F1 of map > threshold against the mask (NaN for
  an untouched image; 0 for an edited one whose mask is empty, as metrics.Evaluator
  scores it); "flagged" [images, thresholds], the share of pixels above threshold."""
  kinds, scores, pixel_f1, flagged = [], [], [], []
  for kind, probabilities, mask, _ in results:
    kinds.append(kind)
    scores.append(image_scores(probabilities, points))
    above = [probabilities > t for t in thresholds]
    flagged.append([np.mean(a) for a in above])
    if kind == "authentic":
      pixel_f1.append([np.nan] * len(thresholds))
    else:
      mask = np.asarray(mask).astype(bool)
      pixel_f1.append([metrics.f1_and_iou(a, mask)[0] if mask.any() else 0.0 for a in above])
  return {
    "kinds": np.asarray(kinds),
    "scores": np.asarray(scores, np.float64).reshape(len(kinds), len(points)),
    "pixel_f1": np.asarray(pixel_f1, np.float64).reshape(len(kinds), len(thresholds)),
    "flagged": np.asarray(flagged, np.float64).reshape(len(kinds), len(thresholds)),
  }


def quantile_figures(scores, edited, points, false_alarm_rate) -> list:
  """Per image score (window, quantile): image AUC of the edited images against the
  untouched, and the share of the edited called edited at the threshold that calls
  `false_alarm_rate` of the untouched edited (release.decision_threshold)."""
  figures = []
  for column, (window, quantile) in enumerate(points):
    threshold = release.decision_threshold(scores[~edited, column], false_alarm_rate)
    figures.append(
      {
        "window": window,
        "quantile": quantile,
        "image_auc": metrics.roc_auc(scores[:, column], edited),
        "called_edited": float(np.mean(scores[edited, column] > threshold)),
        "threshold": threshold,
      }
    )
  return figures


def threshold_figures(kinds, pixel_f1, flagged, thresholds) -> list:
  """Per map threshold: mean pixel F1 of each kind of edit and of all edited images,
  and the mean share of each untouched image's pixels above the threshold."""
  edited = kinds != "authentic"
  groups = {kind: kinds == kind for kind in sorted(set(kinds[edited]))}
  groups[ALL_EDITED] = edited
  return [
    {
      "threshold": threshold,
      "pixel_f1": {kind: float(np.mean(pixel_f1[rows, column])) for kind, rows in groups.items()},
      "untouched_pixels_above": float(np.mean(flagged[~edited, column])),
    }
    for column, threshold in enumerate(thresholds)
  ]


def main(argv):
  """Measures every quantile and threshold and writes the JSON."""
  del argv
  points = score_points(FLAGS.windows, FLAGS.quantiles)
  thresholds = [float(t) for t in FLAGS.thresholds]
  predictor, steps = release.restored_predictor(FLAGS.workdir, FLAGS.step)
  results, split = release.predicted_validation(predictor)
  arrays = operating_point_arrays(results, points, thresholds)
  edited = arrays["kinds"] != "authentic"
  record = {
    "workdir": release.one_or_each(FLAGS.workdir),
    "step": release.one_or_each(steps),
    "validation": split,
    "num_edited": int(edited.sum()),
    "num_untouched": int((~edited).sum()),
    "false_alarm_rate": FLAGS.false_alarm_rate,
    "figures": quantile_figures(arrays["scores"], edited, points, FLAGS.false_alarm_rate),
    "map_thresholds": threshold_figures(
      arrays["kinds"], arrays["pixel_f1"], arrays["flagged"], thresholds
    ),
    **provenance.provenance(),
  }
  paths.write_json(FLAGS.output, record, indent=1)
  print(json.dumps(record["figures"], indent=1))
  print(json.dumps(record["map_thresholds"], indent=1))


if __name__ == "__main__":
  define_flags()
  app.run(main)
