r"""Image AUC and the share called edited at a false-alarm rate, per quantile of the
probability map taken as the image score, on a run's validation forgeries.

  PYTHONPATH=. python tools/image_score_quantiles.py --workdir=runs/photos-v2 --step=2000 \
      --output=docs/results/image_score_quantiles/photos_v2.json

Predicts every validation image once as `ncl_jax.release` does (each file read as
`ncl_jax.predict` reads files, at default flags) and scores each map at every
quantile of `--quantiles` (1 is the map's maximum). docs/recipe.md reads the JSONs.
"""

import json

import numpy as np
from absl import app, flags

from ncl_jax import data, metrics, paths, provenance, release
from ncl_jax.serving.predictor import Predictor
from ncl_jax.serving.restore import restore

FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program."""
  flags.DEFINE_string("workdir", None, "The training run's workdir.")
  flags.DEFINE_integer("step", None, "The checkpoint (default: the best on validation).")
  flags.DEFINE_list("quantiles", ["0.9", "0.95", "0.98", "0.99", "0.995", "0.999", "1"], "")
  flags.DEFINE_float("false_alarm_rate", 0.05, "Share of untouched images called edited.")
  flags.DEFINE_string("output", None, "Where to write the JSON.")
  flags.mark_flags_as_required(["workdir", "output"])


def quantile_scores(results, quantiles) -> tuple:
  """(scores [images, quantiles], edited [images] bool) of release.predicted_records'
  results: each map's value at each quantile."""
  scores, edited = [], []
  for kind, probabilities, _, _ in results:  # once: `results` may be a generator
    scores.append([metrics.image_score(probabilities, q) for q in quantiles])
    edited.append(kind != "authentic")
  return np.asarray(scores, np.float64), np.asarray(edited, bool)


def quantile_figures(scores, edited, quantiles, false_alarm_rate) -> list:
  """Per quantile: image AUC of the edited images against the untouched, and the
  share of the edited called edited at the threshold that calls `false_alarm_rate`
  of the untouched edited (release.decision_threshold)."""
  figures = []
  for column, quantile in enumerate(quantiles):
    threshold = release.decision_threshold(scores[~edited, column], false_alarm_rate)
    figures.append(
      {
        "quantile": quantile,
        "image_auc": metrics.roc_auc(scores[:, column], edited),
        "called_edited": float(np.mean(scores[edited, column] > threshold)),
        "threshold": threshold,
      }
    )
  return figures


def main(argv):
  """Measures every quantile and writes the JSON."""
  del argv
  quantiles = [float(q) for q in FLAGS.quantiles]
  restored = restore(FLAGS.workdir, FLAGS.step)
  config = restored.config
  source = data.get_builder(config.dataset).as_data_source(config.dataset.eval_split)
  records = map(source.__getitem__, range(len(source)))
  results = release.predicted_records(Predictor(config, restored.variables), records)
  scores, edited = quantile_scores(results, quantiles)
  record = {
    "workdir": FLAGS.workdir,
    "step": restored.step,
    "validation": f"{config.dataset.name} {config.dataset.eval_split}: {len(source)} forgeries",
    "num_edited": int(edited.sum()),
    "num_untouched": int((~edited).sum()),
    "false_alarm_rate": FLAGS.false_alarm_rate,
    "figures": quantile_figures(scores, edited, quantiles, FLAGS.false_alarm_rate),
    **provenance.provenance(),
  }
  paths.write_json(FLAGS.output, record, indent=1)
  print(json.dumps(record["figures"], indent=1))


if __name__ == "__main__":
  define_flags()
  app.run(main)
