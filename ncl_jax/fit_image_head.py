r"""Fit the image-level decision of a trained network on its own maps, as TruFor
trains its detector on a frozen localization network.

  python -m ncl_jax.fit_image_head --workdir=runs/photos-v2 --output=runs/photos-v2-head

Predicts `--num_forgeries` forgeries of the run's training photos (the first ones
of its training stream; a run draws its forgeries from that endless stream
shuffled, so these are others than it trained on) as `ncl_jax.predict` reads
files, takes image_head.STATISTICS of each full-size map, and fits their logistic
regression (edited or untouched) by Newton's method with an L2 penalty on the
weights. Writes `--output` as a workdir with one checkpoint: the network's
parameters and statistics unchanged, the fitted head beside them, and the config
with `model.image_head="pooled_detached"`, so that the head's probability is the
image score everywhere (serving/scoring.py); `fit.json` records the fit. The
output measures and releases as any workdir (tools/recipe_ab.py,
ncl_jax.release); it is not a run to resume training from.
"""

import json

import jax
import numpy as np
from absl import app, flags

from ncl_jax import data, paths, provenance, release
from ncl_jax.models import image_head
from ncl_jax.serving.predictor import Predictor
from ncl_jax.serving.restore import restore
from ncl_jax.training import checkpointing

FLAGS = flags.FLAGS
FIT_FILE = "fit.json"


def define_flags():
  """Flags, defined only when run as a program."""
  flags.DEFINE_string("workdir", None, "The trained run's workdir.")
  flags.DEFINE_integer("step", None, "Its checkpoint (default: the best on validation).")
  flags.DEFINE_string("output", None, "The workdir to write the network with its fitted head to.")
  flags.DEFINE_integer("num_forgeries", 1000, "Training forgeries to fit on.", lower_bound=2)
  flags.DEFINE_float("l2", 1e-3, "L2 penalty on the head's weights (not its bias).")
  flags.mark_flags_as_required(["workdir", "output"])


def map_statistics(predictor, records):
  """(statistics [n, len(STATISTICS)] float64, edited [n] 0/1) of the records'
  full-size probability maps, predicted from their files."""
  statistics, edited = [], []
  for kind, probabilities, _, _ in release.predicted_records(predictor, records):
    statistics.append(image_head.pooled_statistics(probabilities[None], xp=np)[0])
    edited.append(float(kind != "authentic"))
  return np.asarray(statistics, np.float64), np.asarray(edited)


def penalized_loss(design, labels, weights, l2):
  """Mean binary cross-entropy of logits design @ weights, plus l2 / 2 * |kernel|^2
  (the last weight is the bias, not penalized)."""
  logits = design @ weights
  return np.mean(np.logaddexp(0, logits) - labels * logits) + 0.5 * l2 * weights[:-1] @ weights[:-1]


def fit_logistic(features, labels, l2, max_steps=100):
  """(kernel [features], bias) minimizing penalized_loss of features [n, k] against
  labels [n] in {0, 1}: Newton steps, halved while they do not lower the loss."""
  design = np.concatenate([np.asarray(features, np.float64), np.ones((len(features), 1))], 1)
  labels = np.asarray(labels, np.float64)
  if len(np.unique(labels)) < 2:
    raise ValueError("the forgeries to fit on hold only one class (all edited or all untouched)")
  penalty = np.diag([l2] * features.shape[1] + [0.0])
  weights = np.zeros(design.shape[1])
  for _ in range(max_steps):
    probabilities = 1 / (1 + np.exp(-(design @ weights)))
    gradient = design.T @ (probabilities - labels) / len(labels) + penalty @ weights
    hessian = (design.T * (probabilities * (1 - probabilities))) @ design / len(labels) + penalty
    step = np.linalg.solve(hessian + 1e-12 * np.eye(len(weights)), gradient)
    loss = penalized_loss(design, labels, weights, l2)
    scale = 1.0
    while penalized_loss(design, labels, weights - scale * step, l2) > loss and scale > 1e-6:
      scale /= 2
    weights = weights - scale * step
    if np.max(np.abs(scale * step)) < 1e-10:
      break
  return weights[:-1], float(weights[-1])


def with_image_head(config, variables, kernel, bias):
  """(config, variables) of the network with the head `kernel` [k], `bias` as its
  image-level decision; the network's own variables are unchanged."""
  config = config.copy_and_resolve_references()
  config.model.image_head = "pooled_detached"
  logistic = {
    "kernel": np.asarray(kernel, np.float32)[:, None],
    "bias": np.asarray([bias], np.float32),
  }
  params = {**variables["params"], "image_head": {"logistic": logistic}}
  return config, {"params": params, "batch_stats": variables["batch_stats"]}


def write_workdir(output, step, config, variables, fit):
  """A workdir holding checkpoint `step` of (config, variables) and `fit` as fit.json."""
  checkpointer = checkpointing.Checkpointer(output)
  checkpointer.save(step, jax.device_get(variables), config, force=True)
  checkpointer.close()
  checkpointing.write_config(output, config)
  paths.write_json(paths.resolve(output) / FIT_FILE, fit, indent=1)


def main(argv):
  """Fits the head and writes the output workdir."""
  del argv
  restored = restore(FLAGS.workdir, FLAGS.step)
  config = restored.config
  if config.model.image_head != "none":
    raise ValueError(
      f"{FLAGS.workdir}: model.image_head is {config.model.image_head!r}; "
      "fit a head on a network without one"
    )
  source = data.get_builder(config.dataset).as_data_source("train")
  records = map(source.__getitem__, range(FLAGS.num_forgeries))
  print(f"predicting {FLAGS.num_forgeries} training forgeries (step {restored.step})")
  statistics, edited = map_statistics(Predictor(config, restored.variables), records)
  kernel, bias = fit_logistic(statistics, edited, FLAGS.l2)
  config, variables = with_image_head(config, restored.variables, kernel, bias)
  fit = {
    "workdir": FLAGS.workdir,
    "step": restored.step,
    "num_forgeries": FLAGS.num_forgeries,
    "num_untouched": int(np.sum(edited == 0)),
    "l2": FLAGS.l2,
    "statistics": list(image_head.STATISTICS),
    "kernel": kernel.tolist(),
    "bias": bias,
    **provenance.provenance(),
  }
  write_workdir(FLAGS.output, restored.step, config, variables, fit)
  print(json.dumps({key: fit[key] for key in ("kernel", "bias", "num_untouched")}))
  print(f"wrote {FLAGS.output} (step {restored.step})")


if __name__ == "__main__":
  define_flags()
  app.run(main)
