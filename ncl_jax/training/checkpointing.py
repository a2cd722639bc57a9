"""Orbax checkpoints in `<workdir>/checkpoints`: train state, input-pipeline state,
and the resolved config, so one checkpoint directory is self-contained. The
workdir may be local or on GCS (gs://...; see paths.py).

Kept: the latest `keep` checkpoints plus the best one by validation pixel F1.
"""

import logging
import sys
import time

import flax.serialization
import grain
import jax
import orbax.checkpoint as ocp
from etils import epath
from orbax.checkpoint.checkpoint_managers import preservation_policy as preservation

from ncl_jax import paths
from ncl_jax.serving.restore import CONFIG_FILE, best_metric, best_step, checkpoint_dir


class Checkpointer:
  """A CheckpointManager with NCL's items: `state`, `data` (grain), `config` (JSON)."""

  def __init__(self, workdir: str, keep: int = 3, read_only: bool = False):
    policy = preservation.AnyPreservationPolicy(
      [
        preservation.LatestN(keep),
        preservation.BestN(get_metric_fn=best_metric, n=1, keep_checkpoints_without_metrics=False),
      ]
    )
    options = ocp.CheckpointManagerOptions(
      preservation_policy=policy,
      best_fn=best_metric,
      best_mode="max",
      create=not read_only,
      read_only=read_only,
      enable_async_checkpointing=True,
    )
    self.directory = checkpoint_dir(workdir)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def step_dir(self, step: int) -> epath.Path:
    """The directory of checkpoint `step`."""
    return self.directory / str(step)

  def latest_step(self) -> int | None:
    """The newest checkpoint's step, or None."""
    return self.manager.latest_step()

  def best_step(self) -> int | None:
    """The step with the highest validation pixel F1; the latest if none has one."""
    return best_step(self.manager)

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
    """Waits until every asynchronous save is committed."""
    self.manager.wait_until_finished()

  def close(self):
    """Waits for the saves and releases the manager."""
    self.manager.close()


def write_config(workdir, config):
  """The resolved config as JSON beside the checkpoints (process 0)."""
  if jax.process_index() == 0:
    paths.write_json(
      paths.resolve(workdir) / CONFIG_FILE, config.to_dict(), indent=2, sort_keys=True
    )
