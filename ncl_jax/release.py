r"""Release a trained model into the package, with its decision threshold.

  python -m ncl_jax.release --workdir=runs/photos-v1 --name=photos-v1
  python -m ncl_jax.release --workdir=runs/a,runs/b --name=photos-v5   # an ensemble
  python -m ncl_jax.release --workdir=runs/a --shipped=photos-v2 --name=photos-v7

Takes the workdir's best checkpoint (highest validation pixel F1, or `--step`, or
with `--average_steps` the mean of those checkpoints' weights); several workdirs
(runs of one network) make an ensemble whose maps are averaged, and `--shipped`
adds models shipped in the package to it as members (the same network; their
training runs need not be on this machine).
It predicts every image of its config's validation split exactly as
`ncl_jax.predict` does with default flags (each image's file, read as that
program reads files), and sets the decision threshold on the image score so that
at most `--false_alarm_rate` of the validation's untouched images are called
edited. Writes `ncl_jax/serving/models/<name>/` (see ncl_jax.serving.pretrained):
the variables (msgpack), the config, model.json (version, SHA-256, threshold,
step, commit, validation figures per kind of edit) and the StableHLO export.
"""

import json
import pathlib
import tempfile

import numpy as np
from absl import app, flags
from flax import serialization

from ncl_jax import data, metrics, provenance
from ncl_jax.serving import pretrained
from ncl_jax.serving.predictor import Predictor
from ncl_jax.serving.restore import restore_runs

FLAGS = flags.FLAGS
MAX_MODEL_BYTES = 25 * 2**20


def define_flags():
  """Flags, defined only when run as a program."""
  flags.DEFINE_list("workdir", None, "The training run's workdir; several: an ensemble.")
  flags.DEFINE_string("name", None, "The model's name, '<family>-v<version>' (photos-v1).")
  flags.DEFINE_integer("step", None, "The checkpoint (default: the best on validation).")
  define_average_steps_flag()
  flags.DEFINE_list("shipped", [], "Shipped models that join the runs as ensemble members.")
  flags.DEFINE_float("false_alarm_rate", 0.05, "Share of untouched validation images allowed.")
  flags.DEFINE_string("models_dir", str(pretrained.MODELS_DIR), "Where shipped models live.")
  flags.DEFINE_float(
    "image_score_quantile", None, "The map quantile that scores an image (default: the run's)."
  )
  flags.mark_flags_as_required(["workdir", "name"])


def define_average_steps_flag():
  """The flag that averages a run's weights over several of its checkpoints."""
  flags.DEFINE_list(
    "average_steps", [], "Average each run's weights over these checkpoints instead of --step."
  )


def version_of(name: str) -> int:
  """The version number at the end of a model's name ("photos-v1" -> 1)."""
  head, _, version = name.rpartition("-v")
  if not head or not version.isdigit():
    raise ValueError(f"model name {name!r} must end in -v<number>, such as photos-v1")
  return int(version)


def decision_threshold(authentic_scores, false_alarm_rate: float) -> float:
  """The lowest image-score threshold that calls at most `false_alarm_rate` of the
  authentic images edited (edited: score > threshold)."""
  scores = np.sort(np.asarray(authentic_scores, np.float64))
  if not len(scores):
    raise ValueError("the validation split has no untouched image to set a threshold on")
  allowed = int(np.floor(false_alarm_rate * len(scores)))
  return float(scores[len(scores) - 1 - allowed])


def one_or_each(values: list):
  """The value where all are one (a single run, or an ensemble's runs at one step),
  else the list: how JSON records the runs' workdirs and steps."""
  return values[0] if len(set(values)) == 1 else list(values)


def restored_predictor(
  workdirs, step=None, image_score_quantile=None, average_steps=(), shipped=()
):
  """(Predictor of the runs' checkpoints as predict runs them at default flags, their
  steps): one run, or several as an ensemble, each its checkpoint `step` or the mean
  of its checkpoints `average_steps`, with the `shipped` models as further members
  (restore_runs); its image score the map's `image_score_quantile` where given, else
  the first run's config's."""
  runs = restore_runs(workdirs, step, average_steps, shipped)
  config = runs.config
  if image_score_quantile is not None:
    config.image_score_quantile = image_score_quantile
  return Predictor(config, runs.variables, members=runs.members), runs.steps


def members_record(workdirs, shipped, steps) -> list[dict]:
  """What model.json records of each member: a run's workdir and checkpoint step, a
  shipped model's name, SHA-256 and step (`steps`: the runs', then the shipped's)."""
  runs = [{"workdir": workdir, "step": step} for workdir, step in zip(workdirs, steps)]
  shipped_steps = steps[len(workdirs) :]
  return runs + [
    {"shipped": name, "sha256": pretrained.read_info(name)["sha256"], "step": step}
    for name, step in zip(shipped, shipped_steps)
  ]


def validation_records(config):
  """(every record of the config's validation split, in order, as an iterator; the
  split's description)."""
  split = config.dataset.eval_split
  source = data.get_builder(config.dataset).as_data_source(split)
  description = f"{config.dataset.name} {split}: {len(source)} forgeries"
  return map(source.__getitem__, range(len(source))), description


def predicted_validation(predictor):
  """(predicted_records of every image of the predictor's config's validation
  split, as a generator; the split's description)."""
  records, description = validation_records(predictor.config)
  print(f"predicting {description}")
  return predicted_records(predictor, records), description


def measure_validation(predictor, false_alarm_rate: float) -> tuple[str, float, dict]:
  """(the validation split's description, the decision threshold that calls at most
  `false_alarm_rate` of its untouched images edited, validation_figures at it)."""
  predicted, split = predicted_validation(predictor)
  results = list(predicted)
  threshold = decision_threshold([r[3] for r in results if r[0] == "authentic"], false_alarm_rate)
  return split, threshold, validation_figures(results, threshold)


def record_files(records):
  """Yields (record, the path of a temporary file holding its image bytes) of each
  record, so that it is read as ncl_jax.predict reads files; each file is deleted
  when the next record is asked for."""
  with tempfile.TemporaryDirectory() as tmp:
    for index, record in enumerate(records):
      path = pathlib.Path(tmp) / f"{index}.{record.get('image_format', 'png')}"
      path.write_bytes(record["image"])
      yield record, path
      path.unlink()


def predicted_records(predictor, records):
  """Yields (kind, probabilities [H, W], mask [H, W], score) of each record, predicted
  from its file as ncl_jax.predict reads files."""
  for record, path in record_files(records):
    prediction = predictor.predict(path)
    mask = np.asarray(record["mask"]).squeeze()
    yield record["manipulation_type"], prediction.probabilities, mask, prediction.score


def validation_figures(results, threshold: float) -> dict:
  """Per kind of edit and for all: pixel F1 at 0.5, pixel AUC, image AUC against
  the authentic images, and the share called edited at `threshold`."""
  authentic = [r for r in results if r[0] == "authentic"]
  kinds = sorted({r[0] for r in results} - {"authentic"})
  figures = {}
  for kind in kinds + ["all edited"]:
    edited = [r for r in results if r[0] != "authentic" and kind in (r[0], "all edited")]
    evaluator = metrics.Evaluator()
    for _, probabilities, mask, score in edited + authentic:
      evaluator.add(probabilities, mask, score=score)
    result = evaluator.result()
    figures[kind] = {
      "pixel_f1": result["pixel_f1"],
      "pixel_auc": result["pixel_auc"],
      "image_auc": result["image_auc"],
      "called_edited": float(np.mean([r[3] > threshold for r in edited])),
      "num_images": len(edited),
    }
  figures["authentic"] = {
    "called_edited": float(np.mean([r[3] > threshold for r in authentic])),
    "num_images": len(authentic),
  }
  return figures


def write_model(folder: pathlib.Path, predictor, info: dict) -> dict:
  """Writes variables, config, export and model.json; returns model.json's content."""
  folder.mkdir(parents=True, exist_ok=True)
  variables = {key: predictor.variables[key] for key in ("params", "batch_stats")}
  (folder / pretrained.VARIABLES_FILE).write_bytes(serialization.msgpack_serialize(variables))
  (folder / pretrained.CONFIG_FILE).write_text(predictor.config.to_json_best_effort(indent=1))
  info = {**info, "sha256": pretrained.file_sha256(folder / pretrained.VARIABLES_FILE)}
  predictor.model_info = {key: info[key] for key in ("name", "version", "sha256")}
  predictor.export(folder / "export")
  (folder / pretrained.INFO_FILE).write_text(json.dumps(info, indent=1) + "\n")
  size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
  if size > MAX_MODEL_BYTES:
    raise ValueError(f"{folder} holds {size} bytes, over the {MAX_MODEL_BYTES} a model may")
  return info


def main(argv):
  """Releases the model."""
  del argv
  version = version_of(FLAGS.name)
  average_steps = [int(step) for step in FLAGS.average_steps]
  predictor, steps = restored_predictor(
    FLAGS.workdir, FLAGS.step, FLAGS.image_score_quantile, average_steps, FLAGS.shipped
  )
  config = predictor.config
  split, threshold, figures = measure_validation(predictor, FLAGS.false_alarm_rate)
  predictor.decision_threshold = threshold
  info = {
    "name": FLAGS.name,
    "version": version,
    "step": one_or_each(steps),
    # Where not null, each run's weights are the mean of these checkpoints'.
    "averaged_steps": average_steps or None,
    "members": predictor.members,
    "runs": members_record(FLAGS.workdir, FLAGS.shipped, steps),
    "decision_threshold": threshold,
    "false_alarm_rate": FLAGS.false_alarm_rate,
    # The image score: the image-level head's probability, or this quantile of the map.
    "image_head": config.model.image_head,
    "image_score_quantile": config.image_score_quantile,
    "validation": {
      "split": split,
      "figures": figures,
    },
    **provenance.provenance(),
  }
  info = write_model(pathlib.Path(FLAGS.models_dir) / FLAGS.name, predictor, info)
  print(json.dumps(info["validation"], indent=1))
  print(f"released {FLAGS.name} (threshold {threshold:.4f}) to {FLAGS.models_dir}")


if __name__ == "__main__":
  define_flags()
  app.run(main)
