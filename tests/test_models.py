import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import default
from ncl_jax.config_schema import validate_config
from ncl_jax.input import imaging
from ncl_jax.models import NCLModel, ResNet, residuals
from ncl_jax.models.deeplab import resize_bilinear
from ncl_jax.models.pivot import PivotBranch


def num_params(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize(
  "depth,expected", [(10, 4_905_792), (18, 11_176_512), (50, 23_508_032), (101, 42_500_160)]
)
def test_resnet_parameter_count_matches_torchvision(depth, expected):
  """torchvision's resnetN without its fc layer has exactly these parameters
  (conv kernels + BatchNorm scale/bias), so the architecture is the standard one.
  ResNet-10 is torchvision's `ResNet(BasicBlock, [1, 1, 1, 1])`: resnet18 less the
  second block of each stage, 18c^2 + 4c parameters each (c = 64, 128, 256, 512)."""
  shapes = jax.eval_shape(
    lambda: ResNet(depth=depth).init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3)), False)
  )
  assert num_params(shapes["params"]) == expected


@pytest.mark.parametrize("depth,output_stride", [(18, 16), (18, 8), (50, 16)])
def test_ncl_model_output_shapes(depth, output_stride):
  model = NCLModel(
    depth=depth,
    width=0.125,
    output_stride=output_stride,
    patch_size=16,
    aspp_channels=64,
    decoder_channels=64,
  )
  images = jnp.zeros((2, 64, 96, 3))
  index, valid = jnp.zeros((2, 3), jnp.int32), jnp.ones((2, 3), bool)
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), images, index, valid))
  out = jax.eval_shape(lambda v: model.apply(v, images, index, valid, train=False), variables)
  stage1_channels = 8 * (4 if depth == 50 else 1)
  assert out["logits"].shape == (2, 64, 96, 1)
  assert out["aux_logits"][f"stride{output_stride}"].shape == (
    2,
    64 // output_stride,
    96 // output_stride,
    1,
  )
  assert out["aux_logits"]["stride4"].shape == (2, 16, 24, 1)
  assert out["patch_features"].shape == (2, 4, 6, 16 * stage1_channels)
  assert out["se_pos"].shape == out["se_neg"].shape == (2, 16 * stage1_channels)
  # output stride via dilation: the encoder's last map is at H/os
  encoder = ResNet(depth=depth, width=0.125, output_stride=output_stride)
  _, last = jax.eval_shape(
    lambda: encoder.init_with_output(jax.random.PRNGKey(0), images, False)[0]
  )
  assert last.shape[1:3] == (64 // output_stride, 96 // output_stride)


def test_pivot_branch_is_slot_conv_then_masked_batchnorm_then_relu():
  branch = PivotBranch()
  rng = np.random.default_rng(0)
  features = jnp.asarray(rng.normal(size=(3, 4, 6)), jnp.float32)
  valid = jnp.asarray([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], bool)
  variables = branch.init(jax.random.PRNGKey(0), features, valid, valid.any(-1), train=False)
  assert variables["params"]["slot_mixer"]["kernel"].shape == (4, 1)  # a weight per slot
  assert variables["params"]["slot_mixer"]["bias"].shape == (1,)
  out, updates = branch.apply(
    variables, features, valid, valid.any(-1), train=True, mutable=["batch_stats"]
  )
  kernel = np.asarray(variables["params"]["slot_mixer"]["kernel"])[:, 0]
  bias = float(variables["params"]["slot_mixer"]["bias"][0])
  mixed = np.einsum("bkd,k->bd", np.where(np.asarray(valid)[..., None], features, 0), kernel) + bias
  # BatchNorm statistics over the two images that have contour patches only
  stats = mixed[:2]
  expected = np.maximum((mixed - stats.mean()) / np.sqrt(stats.var() + 1e-5), 0)
  np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(
    float(updates["batch_stats"]["bn"]["mean"][0]), 0.1 * stats.mean(), rtol=1e-4
  )


def test_pivot_branch_without_any_contour_stays_finite():
  branch = PivotBranch()
  features = jnp.ones((2, 3, 4))
  valid = jnp.zeros((2, 3), bool)
  variables = branch.init(jax.random.PRNGKey(0), features, valid, valid.any(-1), train=False)
  out, updates = branch.apply(
    variables, features, valid, valid.any(-1), train=True, mutable=["batch_stats"]
  )
  assert np.isfinite(np.asarray(out)).all()
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(updates))


def test_model_is_pure_and_starts_random():
  model = NCLModel(depth=18, width=0.125, patch_size=16, aspp_channels=32, decoder_channels=32)
  images = jnp.asarray(np.random.default_rng(0).normal(size=(1, 32, 32, 3)), jnp.float32)
  init, apply = jax.jit(model.init), jax.jit(model.apply)
  a = init(jax.random.PRNGKey(0), images)
  b = init(jax.random.PRNGKey(1), images)
  flat_a = flax.traverse_util.flatten_dict(a["params"])
  flat_b = flax.traverse_util.flatten_dict(b["params"])
  kernel = ("encoder", "stem_conv", "kernel")
  assert not np.allclose(flat_a[kernel], flat_b[kernel])
  out1 = apply(a, images)["logits"]
  out2 = apply(a, images)["logits"]
  np.testing.assert_array_equal(np.asarray(out1), np.asarray(out2))


def numpy_grey_residuals(images_uint8, kernel):
  """Residuals written out: grey level, reflected border, 5x5 correlation with each
  filter of `kernel` [5, 5, 1, filters], truncation."""
  grey = images_uint8.astype(np.float64).mean(axis=-1)
  padded = np.pad(grey, ((0, 0), (2, 2), (2, 2)), mode="reflect")
  height, width = grey.shape[1:]
  out = np.zeros(grey.shape + (kernel.shape[-1],))
  for channel in range(kernel.shape[-1]):
    for dy in range(5):
      for dx in range(5):
        out[..., channel] += (
          kernel[dy, dx, 0, channel] * padded[:, dy : dy + height, dx : dx + width]
        )
  return np.clip(out, -3, 3) / 3


def test_srm_residuals_match_numpy_and_ignore_smooth_shading():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, size=(2, 12, 17, 3)).astype(np.uint8)
  ours = residuals.srm_residuals(jnp.asarray(imaging.normalize(images)))
  np.testing.assert_allclose(
    np.asarray(ours), numpy_grey_residuals(images, residuals.SRM_KERNEL), atol=1e-4
  )
  assert float(jnp.abs(ours).max()) == 1.0  # random pixels saturate the truncation
  # A linear ramp has no second-order residual, so no noise: only the filters' zero
  # sum and the truncation decide what the network sees.
  ramp = np.broadcast_to(
    np.arange(17, dtype=np.uint8)[None, None, :, None] * 7, (1, 12, 17, 3)
  ).astype(np.uint8)
  flat = residuals.srm_residuals(jnp.asarray(imaging.normalize(ramp)))
  np.testing.assert_allclose(np.asarray(flat)[:, 2:-2, 2:-2], 0, atol=1e-4)


def test_constrained_kernel_meets_bayars_constraint_for_any_deviations():
  deviations = jnp.asarray(np.random.default_rng(2).normal(0, 3, size=(24, 4)), jnp.float32)
  kernel = np.asarray(residuals.constrained_kernel(deviations, 5))
  assert kernel.shape == (5, 5, 1, 4)
  np.testing.assert_allclose(kernel[2, 2, 0], -1.0)
  np.testing.assert_allclose(kernel.sum(axis=(0, 1, 2)), 0.0, atol=1e-5)
  # The map is one-to-one up to a constant: deviations differing by one give the same kernel.
  np.testing.assert_allclose(residuals.constrained_kernel(deviations + 1.0, 5), kernel, atol=1e-5)


def test_constrained_residuals_match_numpy_and_learn():
  rng = np.random.default_rng(3)
  images_uint8 = rng.integers(0, 256, size=(2, 12, 17, 3)).astype(np.uint8)
  images = jnp.asarray(imaging.normalize(images_uint8))
  module = residuals.ConstrainedResiduals(filters=2)
  variables = module.init(jax.random.PRNGKey(0), images)
  kernel = np.asarray(residuals.constrained_kernel(variables["params"]["deviations"], 5))
  ours = module.apply(variables, images)
  np.testing.assert_allclose(
    np.asarray(ours), numpy_grey_residuals(images_uint8, kernel), atol=1e-4
  )
  flat = jnp.asarray(imaging.normalize(np.full((1, 12, 17, 3), 90, np.uint8)))
  np.testing.assert_allclose(np.asarray(module.apply(variables, flat)), 0, atol=1e-4)
  gradient = jax.grad(lambda params: jnp.sum(module.apply({"params": params}, images) ** 2))(
    variables["params"]
  )["deviations"]
  assert np.all(np.isfinite(gradient)) and float(jnp.abs(gradient).max()) > 0


def test_noise_residuals_feed_the_stem_and_train_its_kernel_and_the_learned_filters():
  model = NCLModel(
    depth=18,
    width=0.125,
    patch_size=16,
    aspp_channels=32,
    decoder_channels=32,
    noise_residuals=True,
    constrained_residuals=2,
  )
  images = jnp.asarray(
    imaging.normalize(
      np.random.default_rng(1).integers(0, 256, size=(2, 32, 32, 3)).astype(np.uint8)
    )
  )
  # Jitted: one program each instead of hundreds of op-by-op compilations.
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), images)
  assert variables["params"]["encoder"]["stem_conv"]["kernel"].shape[2] == 3 + 3 + 2

  def loss(params):
    outputs = model.apply(
      {**variables, "params": params},
      images,
      train=True,
      rngs={"dropout": jax.random.PRNGKey(1)},
      mutable=["batch_stats"],
    )[0]
    return jnp.mean(outputs["logits"] ** 2)

  grads = jax.jit(jax.grad(loss))(variables["params"])
  stem_grad = grads["encoder"]["stem_conv"]["kernel"]
  assert np.all(np.isfinite(stem_grad))
  assert float(jnp.abs(stem_grad[:, :, 3:]).max(axis=(0, 1, 3)).min()) > 0  # every extra channel
  assert float(jnp.abs(grads["constrained_residuals"]["deviations"]).max()) > 0
  config = default.get_config()
  # (type-safe ConfigDicts refuse a string for a bool; a saved JSON config does not)
  config.model = ml_collections.ConfigDict({**config.model.to_dict(), "noise_residuals": "yes"})
  with pytest.raises(ValueError, match="model.noise_residuals"):
    validate_config(config, num_devices=1)
  config = default.get_config()
  config.model.constrained_residuals = -1
  with pytest.raises(ValueError, match="model.constrained_residuals=-1"):
    validate_config(config, num_devices=1)


def test_decoder_stage_aux_map_shares_the_classifier_unless_given_its_own_head():
  images = jax.random.uniform(jax.random.PRNGKey(1), (1, 64, 64, 3))
  outputs, params = {}, {}
  for own_head in (False, True):
    model = NCLModel(
      depth=18, width=0.125, aspp_channels=32, decoder_channels=32, decoder_aux_head=own_head
    )
    variables = model.init(jax.random.PRNGKey(0), images)
    outputs[own_head], params[own_head] = model.apply(variables, images), variables["params"]
  shared, own = outputs[False], outputs[True]
  # Default (the legacy network): the stride-4 map is the final classifier's logits.
  upsampled = resize_bilinear(shared["aux_logits"]["stride4"], (64, 64))
  np.testing.assert_allclose(upsampled, shared["logits"], rtol=1e-6, atol=1e-6)
  assert "decoder_aux_head" not in params[False]
  # Its own head: the rest of the network is the same, the stride-4 map is not.
  assert params[True]["decoder_aux_head"]["kernel"].shape[-1] == 1
  np.testing.assert_allclose(own["logits"], shared["logits"], rtol=1e-6, atol=1e-6)
  assert own["aux_logits"]["stride4"].shape == (1, 16, 16, 1)
  assert not np.allclose(own["aux_logits"]["stride4"], shared["aux_logits"]["stride4"])
