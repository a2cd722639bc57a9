"""The one restore of a trained model: the config saved with a checkpoint and its
parameters and BatchNorm statistics, never the optimizer or the input pipeline.

Training, evaluation, robustness, `predict`, `Predictor` and the page all restore
through `restore`; `restore_average` makes one model of several checkpoints of one
run (their weights averaged), `restore_runs` one model of several runs (an
ensemble), to which shipped models of the same network may belong.
A workdir holds `checkpoints/<step>/{state,config}`; its best
checkpoint is the one with the highest validation pixel F1 (the latest where none
was selected on validation).
"""

import json
from typing import Any, NamedTuple

import jax
import ml_collections
import orbax.checkpoint as ocp
from etils import epath

from ncl_jax import models, paths
from ncl_jax.config_schema import with_legacy_defaults
from ncl_jax.serving import pretrained
from ncl_jax.serving.prediction import one_architecture, stack_members

BEST_METRIC = "validation_pixel_f1"
CONFIG_FILE = "config.json"
# The config keys that make a network and how it is served: an ensemble's runs share them.
SERVING_KEYS = (
  "model",
  "patch_size",
  "image_size",
  "prediction_views",
  "prediction_strategy",
  "image_score_quantile",
)


def checkpoint_dir(workdir) -> epath.Path:
  """`<workdir>/checkpoints`."""
  return paths.resolve(workdir) / "checkpoints"


def best_metric(metrics) -> float:
  """The value checkpoints are selected on (-inf where a checkpoint has none)."""
  value = (metrics or {}).get(BEST_METRIC)
  return float("-inf") if value is None else float(value)


def best_step(manager: ocp.CheckpointManager) -> int | None:
  """The step with the highest validation pixel F1; the latest if none has one."""
  with_metrics = [s for s in manager.all_steps() if best_metric(manager.metrics(s)) > float("-inf")]
  if not with_metrics:
    return manager.latest_step()
  return max(with_metrics, key=lambda s: (best_metric(manager.metrics(s)), s))


def read_config(path) -> Any:
  """The ConfigDict saved in a workdir or in one checkpoint step directory (keys
  it predates take their legacy defaults, so it builds the network it trained)."""
  path = paths.resolve(path)
  candidates = [path / CONFIG_FILE, path / "config" / "metadata"]
  for candidate in candidates:
    if candidate.is_file():
      return ml_collections.ConfigDict(with_legacy_defaults(json.loads(candidate.read_text())))
  raise FileNotFoundError(
    f"no saved config in {path} (looked for {', '.join(map(str, candidates))})"
  )


def restore_variables(step_dir, abstract_variables) -> dict:
  """{"params", "batch_stats"} of one checkpoint step directory, placed like
  `abstract_variables`; the optimizer state in the checkpoint is not read."""
  restore_args = jax.tree.map(
    lambda s: ocp.ArrayRestoreArgs(sharding=s.sharding), abstract_variables
  )
  return ocp.PyTreeCheckpointer().restore(
    paths.resolve(step_dir) / "state",
    args=ocp.args.PyTreeRestore(
      item=abstract_variables, restore_args=restore_args, partial_restore=True
    ),
  )


class Restored(NamedTuple):
  """A restored model: its step, variables and saved config."""

  step: int
  variables: dict  # {"params", "batch_stats"}
  config: Any  # the config saved with the checkpoint (the network it trained)


def find_step_dir(path, step: int | None = None) -> tuple[int, epath.Path]:
  """(step, its directory): `path` is one checkpoint step directory, or a workdir
  whose best checkpoint (or `step`) is meant. FileNotFoundError when there is none."""
  path = paths.resolve(path)
  if (path / "state").is_dir():
    return int(path.name) if path.name.isdigit() else -1, path
  manager = ocp.CheckpointManager(
    checkpoint_dir(path), options=ocp.CheckpointManagerOptions(read_only=True, create=False)
  )
  try:
    step = best_step(manager) if step in (None, "") else int(step)
  finally:
    manager.close()
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {checkpoint_dir(path)}; train first")
  return step, checkpoint_dir(path) / str(step)


def restore(path, step: int | None = None, sharding=None) -> Restored:
  """The model of a workdir's best checkpoint (or `step`), or of one checkpoint
  step directory, placed with `sharding` (default: the first device)."""
  step, step_dir = find_step_dir(path, step)
  config = read_config(step_dir)
  sharding = sharding or jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = models.abstract_variables(
    models.create_model(config.model, config.patch_size), config, sharding
  )
  return Restored(step, restore_variables(step_dir, abstract), config)


def _mean(*arrays):
  # Summed in float32 whatever the stored dtype, so that the mean does not round per term.
  return (sum(a.astype("float32") for a in arrays) / len(arrays)).astype(arrays[0].dtype)


def restore_average(path, steps, sharding=None) -> Restored:
  """The mean of checkpoints `steps` of one run, parameter by parameter (BatchNorm
  statistics alike): the run's weights averaged over its last checkpoints. Its step
  and config are those of the last of `steps`. ValueError where the checkpoints'
  networks differ."""
  if not steps:
    raise ValueError(f"{path}: no checkpoint steps to average")
  restored = [restore(path, int(step), sharding) for step in sorted(set(map(int, steps)))]
  if not one_architecture([run.variables for run in restored]):
    raise ValueError(f"{path}: checkpoints {steps} hold different networks; cannot average them")
  mean = jax.tree.map(_mean, *[run.variables for run in restored])
  return Restored(restored[-1].step, mean, restored[-1].config)


class Runs(NamedTuple):
  """One model of one or more training runs: an ensemble where there are several."""

  steps: list[int]  # each run's checkpoint
  variables: dict  # one run's, or the runs' stacked ([members, ...]: stack_members)
  config: Any  # the first run's
  members: int  # how many runs


def _serving_value(config, key):
  value = config.get(key)
  return value.to_dict() if hasattr(value, "to_dict") else value


def restore_shipped(name: str, models_dir=None) -> Restored:
  """A model shipped in the package (pretrained.load: its SHA-256 checked) as one
  run: the step it trained to, its variables and its config."""
  model = pretrained.load(name, models_dir)
  members = model.info.get("members", 1)
  if members != 1:
    raise ValueError(
      f"shipped model {name} is an ensemble of {members} networks; only one network "
      f"joins an ensemble as a member"
    )
  return Restored(model.info["step"], model.variables, model.config)


def restore_runs(
  workdirs, step: int | None = None, average_steps=(), shipped=(), models_dir=None
) -> Runs:
  """Each run's best checkpoint (or `step`; or the mean of its checkpoints
  `average_steps`: restore_average), then each shipped model named in `shipped`
  (restore_shipped, from `models_dir`), as one model (`Predictor(..., members=)`
  averages their maps). ValueError naming the member whose SERVING_KEYS differ."""
  if average_steps and step not in (None, ""):
    raise ValueError(f"either one checkpoint (step {step}) or an average of {average_steps}")
  if average_steps:
    restored = [restore_average(workdir, average_steps) for workdir in workdirs]
  else:
    restored = [restore(workdir, step) for workdir in workdirs]
  restored += [restore_shipped(name, models_dir) for name in shipped]
  names = [*workdirs, *(f"shipped model {name}" for name in shipped)]
  first = restored[0].config
  for name, run in zip(names[1:], restored[1:]):
    differing = [
      key for key in SERVING_KEYS if _serving_value(run.config, key) != _serving_value(first, key)
    ]
    if differing:
      raise ValueError(
        f"{name}: its {', '.join(differing)} differ from {names[0]}'s; an ensemble's "
        f"members must share the network and how it is served"
      )
  variables = restored[0].variables
  if len(restored) > 1:
    variables = stack_members([run.variables for run in restored])
  return Runs([run.step for run in restored], variables, first, len(restored))
