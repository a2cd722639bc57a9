"""The state of a training run, and the one place that builds its model, optimizer
and state.

  factory = StateFactory(config)                            # model and optimizer
  state = factory.create(jax.random.PRNGKey(config.seed))   # a TrainState

Serving (ncl_jax.serving) builds the model alone, with `models.create_model`, and
restores only the parameters and BatchNorm statistics.
"""

from typing import Any

import flax
import jax
import jax.numpy as jnp

from ncl_jax import models
from ncl_jax.training import optimizer


@flax.struct.dataclass
class TrainState:
  """Everything a run carries from step to step, checkpointed whole."""

  step: jnp.ndarray
  params: Any
  batch_stats: Any
  opt_state: Any
  rng: jnp.ndarray  # base key; step t uses fold_in(rng, t), so resuming replays it exactly
  skipped_steps: jnp.ndarray  # steps dropped for a non-finite loss (nan_policy="skip")

  @property
  def variables(self) -> dict:
    """What the model needs to predict: {"params", "batch_stats"}."""
    return {"params": self.params, "batch_stats": self.batch_stats}


def _placed(tree, sharding):
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), tree)


class StateFactory:
  """Owns the model and the optimizer of a training config."""

  def __init__(self, config):
    self.config = config
    self.model = models.create_model(config.model, config.patch_size)
    self.tx = optimizer.create_optimizer(config)

  def init_variables(self, rng) -> dict:
    """Random {"params", "batch_stats"} (every weight starts random)."""
    return models.init_variables(self.model, self.config, rng)

  def create(self, rng) -> TrainState:
    """A new TrainState: random weights and a fresh optimizer state."""
    init_rng, state_rng = jax.random.split(rng)
    variables = self.init_variables(init_rng)
    params = variables["params"]
    return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      batch_stats=variables["batch_stats"],
      opt_state=self.tx.init(params),
      rng=state_rng,
      skipped_steps=jnp.zeros((), jnp.int32),
    )

  def abstract_state(self, sharding) -> TrainState:
    """The TrainState's shapes and dtypes placed with `sharding` (to restore into)."""
    return _placed(jax.eval_shape(self.create, jax.random.PRNGKey(0)), sharding)

  def jitted_create(self, sharding):
    """`create` compiled to place the new state with `sharding`."""
    return jax.jit(self.create, out_shardings=sharding)
