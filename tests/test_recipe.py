"""The reference DeepLabV3+ recipe: learning-rate groups, dropout, multi-grid, and
configs saved before these keys existed."""

import json

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

from ncl_jax.config_schema import LEGACY_DEFAULTS
from ncl_jax.models import ResNet, create_model
from ncl_jax.serving.restore import read_config
from ncl_jax.training import optimizer
from ncl_jax.training.state import StateFactory
from tests.conftest import tiny_config


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_head_parameters_train_at_the_multiplied_rate(tmp_path, name):
  config = tiny_config(
    tmp_path,
    **{"optimizer.name": name, "optimizer.warmup_steps": 0, "optimizer.head_lr_multiplier": 10.0},
  )
  params = StateFactory(config).init_variables(jax.random.PRNGKey(0))["params"]
  grads = jax.tree.map(jnp.ones_like, params)

  def first_update(multiplier):
    with config.unlocked():
      config.optimizer.head_lr_multiplier = multiplier
    tx = optimizer.create_optimizer(config)
    updates, _ = tx.update(grads, tx.init(params), params)
    return updates

  plain, scaled = first_update(1.0), first_update(10.0)
  assert set(params) == {
    "encoder",
    "aspp",
    "aux_head",
    "decoder",
    "classifier",
    "pivot_pos",
    "pivot_neg",
  }
  for module in params:
    factor = 1.0 if module == "encoder" else 10.0
    for a, b in zip(jax.tree.leaves(plain[module]), jax.tree.leaves(scaled[module])):
      np.testing.assert_allclose(np.asarray(b), factor * np.asarray(a), rtol=1e-6)
    assert any(np.abs(np.asarray(x)).max() > 0 for x in jax.tree.leaves(plain[module]))
  # the optimizer state has the same structure with and without the multiplier
  states = [optimizer.create_optimizer(config).init(params)]
  with config.unlocked():
    config.optimizer.head_lr_multiplier = 1.0
  states.append(optimizer.create_optimizer(config).init(params))
  assert jax.tree.structure(states[0]) == jax.tree.structure(states[1])


def test_dropout_acts_in_training_only(tmp_path):
  config = tiny_config(tmp_path)
  assert config.model.aspp_dropout == 0.5 and tuple(config.model.decoder_dropouts) == (0.5, 0.1)
  model = create_model(config.model, config.patch_size)
  variables = StateFactory(config).init_variables(jax.random.PRNGKey(0))
  images = jnp.asarray(np.random.default_rng(0).normal(size=(2, 64, 64, 3)), jnp.float32)

  def logits(train, seed):
    out = model.apply(
      variables,
      images,
      train=train,
      mutable=["batch_stats"] if train else False,
      rngs={"dropout": jax.random.PRNGKey(seed)},
    )
    return np.asarray((out[0] if train else out)["logits"])

  np.testing.assert_array_equal(logits(False, 1), logits(False, 2))
  assert not np.allclose(logits(True, 1), logits(True, 2))
  np.testing.assert_array_equal(logits(True, 3), logits(True, 3))


def conv_dilations(module, images, *args):
  """The rhs dilations of every convolution in the module's forward pass."""
  variables = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), images, *args))
  jaxpr = jax.make_jaxpr(lambda v: module.apply(v, images, *args))(variables)
  return [
    tuple(eqn.params["rhs_dilation"])
    for eqn in jaxpr.jaxpr.eqns
    if eqn.primitive.name == "conv_general_dilated"
  ] + [
    tuple(e.params["rhs_dilation"])
    for eqn in jaxpr.jaxpr.eqns
    for sub in jax.extend.core.jaxprs_in_params(eqn.params)
    for e in sub.eqns
    if e.primitive.name == "conv_general_dilated"
  ]


@pytest.mark.parametrize("depth,expected", [(50, [2, 4, 8]), (18, [2, 4])])
def test_multi_grid_dilates_the_last_stage(depth, expected):
  images = jnp.zeros((1, 64, 64, 3))
  dilations = conv_dilations(
    ResNet(depth, 0.125, 16, multi_grid=(1, 2, 4), conv_impl="xla"), images, False
  )
  three_by_three = [d[0] for d in dilations if d[0] > 1]
  per_block = 2 if depth == 18 else 1  # basic blocks have two 3x3 convs
  assert three_by_three == [d for d in expected for _ in range(per_block)]
  plain = conv_dilations(
    ResNet(depth, 0.125, 16, multi_grid=(1, 1, 1), conv_impl="xla"), images, False
  )
  assert {d[0] for d in plain} == {1, 2}


def test_a_config_saved_before_the_recipe_keys_restores_the_old_network(tmp_path):
  saved = tiny_config(tmp_path).to_dict()
  for key in LEGACY_DEFAULTS:
    *sections, leaf = key.split(".")
    section = saved
    for name in sections:
      section = section[name]
    del section[leaf]
  (tmp_path / "config.json").write_text(json.dumps(saved))
  config = read_config(str(tmp_path))
  assert config.model.aspp_dropout == 0.0 and tuple(config.model.decoder_dropouts) == (0, 0)
  assert tuple(config.model.multi_grid) == (1, 1, 1) and config.model.zero_init_residual
  assert config.model.head_init == "fan_out" and config.optimizer.head_lr_multiplier == 1.0
  assert config.image_score_quantile == 1.0  # images were scored by the map's max
  assert config.model.noise_residuals is False  # colours only
  assert config.prediction_views == 1 and config.input.random_rotate is False
  assert config.pc.dice_weight == 0.0  # the paper's losses only
  assert config.model.constrained_residuals == 0
  # ...while a config that has them keeps its values
  (tmp_path / "config.json").write_text(json.dumps(tiny_config(tmp_path).to_dict()))
  assert read_config(str(tmp_path)).model.aspp_dropout == 0.5
