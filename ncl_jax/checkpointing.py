"""Orbax checkpoints in `<workdir>/checkpoints`: train state, input-pipeline state,
and the resolved config, so one checkpoint directory is self-contained. The
workdir may be local or on GCS (gs://...; see paths.py).

Kept: the latest `keep` checkpoints plus the best one by validation pixel F1.
"""

import json
import logging
import sys
import time
from typing import Any

import flax.serialization
import grain
import jax
import ml_collections
import orbax.checkpoint as ocp
from etils import epath
from orbax.checkpoint.checkpoint_managers import preservation_policy as preservation

from ncl_jax import paths

BEST_METRIC = "validation_pixel_f1"
CONFIG_FILE = "config.json"
# Keys added after checkpoints were first written, with the behaviour of the code
# before them: a saved config without a key is read with this value, so a
# checkpoint restores into the network it was trained with.
LEGACY_DEFAULTS = {
  "model.aspp_dropout": 0.0,
  "model.decoder_dropouts": (0.0, 0.0),
  "model.multi_grid": (1, 1, 1),
  "model.zero_init_residual": True,
  "model.head_init": "fan_out",
  "optimizer.head_lr_multiplier": 1.0,
  "model.conv_impl": "auto",  # the same network and parameters, computed as fast as possible
  "image_score_quantile": 1.0,
  "input.mask_cache_mb": 256,  # the same examples; masks decoded once per process
  "model.noise_residuals": False,
  "input.random_rotate": False,
  "prediction_views": 1,
  "pc.dice_weight": 0.0,
  "model.constrained_residuals": 0,
}


def checkpoint_dir(workdir) -> epath.Path:
  return paths.resolve(workdir) / "checkpoints"


def _best_metric(metrics) -> float:
  value = metrics.get(BEST_METRIC)
  return float("-inf") if value is None else float(value)


class Checkpointer:
  """A CheckpointManager with NCL's items: `state`, `data` (grain), `config` (JSON)."""

  def __init__(self, workdir: str, keep: int = 3, read_only: bool = False):
    policy = preservation.AnyPreservationPolicy(
      [
        preservation.LatestN(keep),
        preservation.BestN(get_metric_fn=_best_metric, n=1, keep_checkpoints_without_metrics=False),
      ]
    )
    options = ocp.CheckpointManagerOptions(
      preservation_policy=policy,
      best_fn=_best_metric,
      best_mode="max",
      create=not read_only,
      read_only=read_only,
      enable_async_checkpointing=True,
    )
    self.directory = checkpoint_dir(workdir)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def step_dir(self, step: int) -> epath.Path:
    return self.directory / str(step)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def best_step(self) -> int | None:
    """The step with the highest validation pixel F1; the latest if none has one."""
    with_metrics = [
      s
      for s in self.manager.all_steps()
      if (self.manager.metrics(s) or {}).get(BEST_METRIC) is not None
    ]
    if not with_metrics:
      return self.latest_step()
    return max(with_metrics, key=lambda s: (_best_metric(self.manager.metrics(s)), s))

  def save(self, step: int, state, config, data_iterator=None, metrics=None, force=False):
    """Asynchronous; `wait()` before relying on it. Returns whether it saved."""
    items = {
      "state": ocp.args.StandardSave(flax.serialization.to_state_dict(state)),
      "config": ocp.args.JsonSave(config.to_dict()),
    }
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointSave(data_iterator)
    return self.manager.save(step, args=ocp.args.Composite(**items), metrics=metrics, force=force)

  def restore(self, step: int, abstract_state, data_iterator=None):
    """Restore into the structure and shardings of `abstract_state` (and the iterator)."""
    target = flax.serialization.to_state_dict(abstract_state)
    items = {"state": ocp.args.StandardRestore(target)}
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    return flax.serialization.from_state_dict(abstract_state, restored["state"])

  def restore_latest(self, abstract_state, data_iterator=None):
    """The newest checkpoint that restores, or None if there is none.

    A checkpoint that fails to restore (incomplete or corrupt files) is reported,
    moved to `<workdir>/checkpoints_corrupt/` so it is never loaded or overwritten
    silently, and the previous one is tried.
    """
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        state = self.restore(step, abstract_state, data_iterator)
      except Exception as error:  # orbax/tensorstore raise many types on bad files
        self._quarantine(step, error)
        continue
      logging.warning("Resumed from step %d in %s", step, self.directory)
      return state
    return None

  def _quarantine(self, step, error):
    destination = self.directory.parent / "checkpoints_corrupt"
    message = (
      f"checkpoint {step} in {self.directory} is incomplete or corrupt "
      f"({type(error).__name__}: {str(error)[:300]}); moved to {destination}, "
      "trying the previous one"
    )
    logging.error(message)
    print(message, file=sys.stderr)
    if jax.process_index() == 0:
      paths.move_tree(self.step_dir(step), destination / f"{step}-{int(time.time())}")
    self.manager.reload()

  def wait(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.close()


def restore_variables(step_dir: str, abstract_variables) -> dict:
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


def write_config(workdir, config):
  """The resolved config as JSON beside the checkpoints (process 0)."""
  if jax.process_index() == 0:
    paths.write_json(
      paths.resolve(workdir) / CONFIG_FILE, config.to_dict(), indent=2, sort_keys=True
    )


def with_legacy_defaults(saved: dict) -> dict:
  """A saved config dict with every key of LEGACY_DEFAULTS it lacks added."""
  for key, value in LEGACY_DEFAULTS.items():
    *parents, leaf = key.split(".")
    section = saved
    for parent in parents:
      section = section.setdefault(parent, {})
    section.setdefault(leaf, value)
  return saved


def read_config(path) -> Any:
  """The ConfigDict saved in a workdir or in one checkpoint step directory (keys
  it predates take their LEGACY_DEFAULTS)."""
  path = paths.resolve(path)
  candidates = [path / CONFIG_FILE, path / "config" / "metadata"]
  for candidate in candidates:
    if candidate.is_file():
      return ml_collections.ConfigDict(with_legacy_defaults(json.loads(candidate.read_text())))
  raise FileNotFoundError(
    f"no saved config in {path} (looked for {', '.join(map(str, candidates))})"
  )
