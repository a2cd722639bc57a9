"""Multi-host start-up: jax.distributed.initialize() before anything touches JAX."""

import os

import jax


def cluster_detected() -> bool:
  """Whether this process looks like one of several: Slurm with several tasks, a
  Cloud TPU pod, or a coordinator address in the environment."""
  if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
    return True
  if "," in os.environ.get("TPU_WORKER_HOSTNAMES", ""):
    return True
  return bool(
    os.environ.get("JAX_COORDINATOR_ADDRESS") or os.environ.get("MEGASCALE_COORDINATOR_ADDRESS")
  )


def maybe_initialize(distributed_config) -> bool:
  """Call jax.distributed.initialize as `distributed.initialize` says; True if called."""
  if distributed_config is None or distributed_config.initialize == "no":
    return False
  explicit = {}
  if distributed_config.coordinator_address:
    explicit = {
      "coordinator_address": distributed_config.coordinator_address,
      "num_processes": distributed_config.num_processes,
      "process_id": distributed_config.process_id,
    }
  if distributed_config.initialize == "auto" and not (explicit or cluster_detected()):
    return False
  if distributed_config.initialize not in ("auto", "yes"):
    raise ValueError(
      f"distributed.initialize={distributed_config.initialize!r} must be 'auto', 'yes' or 'no'"
    )
  jax.distributed.initialize(**explicit)
  return True
