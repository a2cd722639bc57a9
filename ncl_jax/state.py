"""The state of a run, and the one place that builds model, optimizer and state.

  factory = StateFactory(config)                            # model and optimizer
  state = factory.create(jax.random.PRNGKey(config.seed))   # a TrainState
  serving = StateFactory(config, with_optimizer=False)      # the model alone
  variables = serving.abstract_variables(sharding)          # {"params", "batch_stats"}

Serving (inference, export, robustness, evaluation of a checkpoint) restores
only the parameters and BatchNorm statistics: it never builds the optimizer.
"""

from typing import Any

import flax
import jax
import jax.numpy as jnp

from ncl_jax import optimizer
from ncl_jax.models import create_model


@flax.struct.dataclass
class TrainState:
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
  """Owns the model and, for training, the optimizer of a config."""

  def __init__(self, config, with_optimizer: bool = True):
    self.config = config
    self.model = create_model(config.model, config.patch_size)
    self.tx = optimizer.create_optimizer(config) if with_optimizer else None

  def init_variables(self, rng) -> dict:
    """Random {"params", "batch_stats"} (every weight starts random)."""
    size, slots = self.config.image_size, self.config.ncl.max_contour_patches
    return self.model.init(
      rng,
      jnp.zeros((1, size, size, 3), jnp.float32),
      jnp.zeros((1, slots), jnp.int32),
      jnp.ones((1, slots), bool),
      train=False,
    )

  def create(self, rng) -> TrainState:
    if self.tx is None:
      raise ValueError("this StateFactory was built without an optimizer (for serving)")
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

  def abstract_variables(self, sharding) -> dict:
    """{"params", "batch_stats"} shapes and dtypes placed with `sharding`."""
    return _placed(jax.eval_shape(self.init_variables, jax.random.PRNGKey(0)), sharding)

  def jitted_create(self, sharding):
    """`create` compiled to place the new state with `sharding`."""
    return jax.jit(self.create, out_shardings=sharding)
