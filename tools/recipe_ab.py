r"""An A/B arm's checkpoint on the validation forgeries, per kind of edit.

  PYTHONPATH=. python tools/recipe_ab.py --arm=real_removals \
      --workdir=runs/ab/real_removals --step=1000 \
      --output=docs/results/recipe_ab/real_removals.json

Predicts every image of the checkpoint's validation split as `ncl_jax.release`
does (each file read as `ncl_jax.predict` reads files, at default flags) and
writes pixel F1 at 0.5, pixel AUC and image AUC per kind of edit, with the share
of each called edited at the threshold that calls 5% of the untouched ones
edited. The arms of configs/recipe_ab.py validate on the same forgeries
(`dataset.validation_synthesis`), so their files compare; docs/recipe.md is
generated from them (tools/generate_docs.py). `--validation=NAME` measures on
other forgeries of the same held-out photos (configs/recipe_ab.py VALIDATIONS), or
with `collection` a run trained on another folder (the photos command's) on the
arms' own forgeries.
`--pretrained=NAME` averages a shipped model's map with the runs': an ensemble of
networks that need not share an architecture, measured here only; without
`--workdir`, the shipped model alone (several: their average) is measured.
`--average_steps=1500,1750,2000` measures each run's weights averaged over those
checkpoints, as `ncl_jax.release --average_steps` would release them.
"""

import json
import pathlib

import numpy as np
from absl import app, flags

from configs import recipe_ab as recipe_arms
from ncl_jax import provenance, release
from ncl_jax.serving import pretrained as pretrained_lib
from ncl_jax.serving.predictor import Prediction, Predictor
from ncl_jax.serving.scoring import image_scorer

FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program."""
  flags.DEFINE_string("arm", None, "The arm's name (configs/recipe_ab.py), for the table.")
  flags.DEFINE_list("workdir", [], "The arm's training workdir; several: their ensemble.")
  flags.DEFINE_integer("step", None, "The checkpoint (default: the best on validation).")
  release.define_average_steps_flag()
  flags.DEFINE_list("seed", ["0"], "The training seed of the run (of each), for the table.")
  flags.DEFINE_list("trained_at", [], "The commit of the code that trained the run (each).")
  flags.DEFINE_list(
    "pretrained", [], "Shipped models whose maps are averaged with the runs' (unlike networks)."
  )
  flags.DEFINE_string("output", None, "Where to write the JSON.")
  flags.DEFINE_float(
    "image_score_quantile", None, "The map quantile that scores an image (default: the run's)."
  )
  flags.DEFINE_enum(
    "validation",
    "",
    ["", *recipe_arms.VALIDATIONS],
    "Other forgeries of the held-out photos, or the arms' own for a run trained "
    "elsewhere (configs/recipe_ab.py VALIDATIONS; default: the run's own validation).",
  )
  flags.mark_flags_as_required(["arm", "output"])


class AveragedPredictors:
  """Predictors of networks that need not share an architecture, as one: each
  image's probability maps [H, W] averaged, the average scored by the first
  predictor's config (the map's quantile). Offers what release.measure_validation
  reads: `config` and `predict`."""

  def __init__(self, predictors):
    heads = [p.config.model.get("image_head", "none") for p in predictors]
    with_head = [p.model_info for p, head in zip(predictors, heads) if head != "none"]
    if with_head:
      raise ValueError(f"an average's image score is its map's quantile; {with_head} have a head")
    self.predictors, self.config = predictors, predictors[0].config
    self.image_scorer = image_scorer(self.config, None)

  def predict(self, image) -> Prediction:
    """The Prediction of one image (a path, PIL image or uint8 array) from the average."""
    probabilities = np.mean([p.predict(image).probabilities for p in self.predictors], axis=0)
    return Prediction(probabilities, self.image_scorer(probabilities), None)


def arm_figures(
  workdirs, step=None, image_score_quantile=None, validation="", pretrained=(), average_steps=()
) -> dict:
  """The validation figures per kind of the runs' checkpoint (several runs: their
  ensemble; with `pretrained` shipped models: the average of its map and theirs; with
  `average_steps`: each run's weights averaged over those checkpoints), its step, the
  threshold and the validation split's description; on the forgeries of
  VALIDATIONS[`validation`] where given."""
  if workdirs:
    predictor, steps = release.restored_predictor(
      workdirs, step, image_score_quantile, average_steps
    )
    predictors = [predictor] + [Predictor.from_pretrained(name) for name in pretrained]
  else:
    predictors = [Predictor.from_pretrained(name) for name in pretrained]
    steps = [pretrained_lib.read_info(name)["step"] for name in pretrained]
  predictor = predictors[0] if len(predictors) == 1 else AveragedPredictors(predictors)
  if validation:
    recipe_arms.VALIDATIONS[validation](predictor.config.dataset)
  split, threshold, figures = release.measure_validation(predictor, 0.05)
  return {
    "step": release.one_or_each(steps),
    "averaged_steps": list(average_steps) or None,
    "validation": split,
    "validation_recipe": validation or "the run's",
    "image_score_quantile": predictor.config.image_score_quantile,
    "threshold_at_5_percent_false_alarms": threshold,
    "figures": figures,
  }


def check_flags():
  """Runs or shipped models to measure, each run with the commit that trained it."""
  if not FLAGS.workdir and not FLAGS.pretrained:
    raise app.UsageError("give --workdir (a training run), --pretrained (a shipped model), or both")
  if FLAGS.workdir and not FLAGS.trained_at:
    raise app.UsageError("--trained_at: the commit of the code that trained each --workdir")
  if not FLAGS.workdir and (FLAGS.step or FLAGS.average_steps or FLAGS.image_score_quantile):
    raise app.UsageError(
      "--step, --average_steps and --image_score_quantile choose a run's checkpoint or score; "
      "a shipped model has its own"
    )


def main(argv):
  """Measures the arm and writes its JSON."""
  del argv
  check_flags()
  record = {"arm": FLAGS.arm}
  if FLAGS.workdir:
    record["seed"] = release.one_or_each([int(seed) for seed in FLAGS.seed])
    record["workdir"] = release.one_or_each(FLAGS.workdir)
    record["trained_at"] = release.one_or_each(FLAGS.trained_at)
  if FLAGS.pretrained:
    record["pretrained"] = FLAGS.pretrained
    record["pretrained_sha256"] = [pretrained_lib.read_info(n)["sha256"] for n in FLAGS.pretrained]
  record.update(
    arm_figures(
      FLAGS.workdir,
      FLAGS.step,
      FLAGS.image_score_quantile,
      FLAGS.validation,
      FLAGS.pretrained,
      [int(step) for step in FLAGS.average_steps],
    )
  )
  record.update(provenance.provenance())
  output = pathlib.Path(FLAGS.output)
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_text(json.dumps(record, indent=2) + "\n")
  print(json.dumps(record["figures"], indent=1))


if __name__ == "__main__":
  define_flags()
  app.run(main)
