"""The CPU formulations of convolutions (and of the stem's max pooling) equal nn.Conv's
(nn.max_pool's): outputs and gradients to 1e-5; the CPU compiler options keep
convolutions out of YNNPACK and change a gradient by less than that."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ncl_jax.models import conv as conv_lib
from ncl_jax.models import pooling

NHWC = ("NHWC", "HWIO", "NHWC")

CASES = [
  # (input shape, features, kernel, stride, dilation, padding, expected CPU strategy)
  ((2, 9, 11, 8), 5, 1, 1, 1, "SAME", "matmul"),
  ((2, 9, 11, 8), 5, 1, 2, 1, ((0, 0), (0, 0)), "matmul"),
  ((2, 12, 12, 8), 6, 3, 1, 4, ((4, 4), (4, 4)), "taps"),
  ((1, 12, 14, 6), 4, 3, 1, 6, ((6, 6), (6, 6)), "taps"),
  ((1, 64, 64, 256), 256, 3, 1, 1, ((1, 1), (1, 1)), "tap_weight_gradient"),
  ((2, 16, 16, 8), 8, 3, 1, 1, ((1, 1), (1, 1)), "xla"),
  ((2, 16, 16, 8), 8, 3, 2, 1, ((1, 1), (1, 1)), "xla"),
  ((2, 16, 16, 3), 8, 7, 2, 1, ((3, 3), (3, 3)), "xla"),
]


@pytest.mark.parametrize("shape,features,kernel,stride,dilation,padding,strategy", CASES)
def test_cpu_formulation_equals_nn_conv(
  shape, features, kernel, stride, dilation, padding, strategy
):
  assert jax.default_backend() == "cpu"
  assert (
    conv_lib.cpu_strategy(
      shape,
      (kernel, kernel, shape[-1], features),
      (stride, stride),
      padding,
      None,
      (dilation, dilation),
      1,
    )
    == strategy
  )
  modules = [
    nn.Conv(
      features,
      (kernel, kernel),
      (stride, stride),
      padding,
      kernel_dilation=(dilation, dilation),
      conv_general_dilated=impl,
    )
    for impl in (None, conv_lib.conv_general_dilated)
  ]
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  variables = modules[0].init(jax.random.PRNGKey(0), x)
  cotangent = None
  results = []
  for module in modules:
    y, vjp = jax.vjp(lambda v, x, m=module: m.apply(v, x), variables, x)
    if cotangent is None:
      cotangent = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
    results.append((y, *vjp(cotangent)))
  for reference, ours in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1])):
    scale = float(jnp.abs(reference).max())
    np.testing.assert_allclose(
      np.asarray(ours), np.asarray(reference), rtol=0, atol=1e-5 * max(scale, 1.0)
    )


def test_other_backends_and_xla_impl_use_xla():
  assert conv_lib.for_impl("xla") is jax.lax.conv_general_dilated
  assert conv_lib.for_impl("auto") is conv_lib.conv_general_dilated
  with pytest.raises(ValueError, match="conv_impl"):
    conv_lib.for_impl("fast")


@pytest.mark.parametrize(
  "shape,ties", [((2, 9, 11, 3), False), ((2, 16, 16, 4), True), ((1, 7, 8, 2), True)]
)
def test_cpu_max_pool_gradient_equals_nn_max_pool(shape, ties):
  rng = np.random.default_rng(0)
  x = rng.normal(size=shape)
  if ties:  # ReLU zeros and repeated values: the first maximum takes the gradient
    x = np.maximum(np.round(x * 2), 0)
  x = jnp.asarray(x, jnp.float32)

  def reference(v):
    return nn.max_pool(v, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))

  def ours(v):
    return pooling.max_pool(v, 3, 2, 1, "auto")

  y, reference_vjp = jax.vjp(reference, x)
  cotangent = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
  y_ours, ours_vjp = jax.vjp(ours, x)
  np.testing.assert_array_equal(y_ours, y)
  # To the bit: the same elements summed in the same order (training reproduces).
  np.testing.assert_array_equal(ours_vjp(cotangent)[0], reference_vjp(cotangent)[0])
  for impl in ("auto", "xla"):  # not differentiated: XLA's reduce-window
    np.testing.assert_array_equal(pooling.max_pool(x, 3, 2, 1, impl), y)
  with pytest.raises(ValueError, match="conv_impl"):
    pooling.max_pool(x, 3, 2, 1, "fast")


def compiled_weight_gradient(options):
  """(compiled HLO text, value) of a 3x3 convolution's weight gradient over a
  [2, 32, 32, 32] map, compiled with the XLA `options`."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(2, 32, 32, 32)), jnp.float32)
  kernel = jnp.asarray(rng.normal(size=(3, 3, 32, 32)), jnp.float32)

  def loss(kernel, x):
    y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=NHWC)
    return (y**2).sum()

  gradient = jax.jit(jax.grad(loss), compiler_options=options)
  return gradient.lower(kernel, x).compile().as_text(), gradient(kernel, x)


def test_auto_compiles_convolutions_outside_ynnpack_to_the_same_gradient(monkeypatch):
  if not conv_lib._ynn_option_supported():
    pytest.skip(f"this jaxlib's XLA:CPU has no {conv_lib.YNN_FUSION_OPTION}")
  options = conv_lib.compiler_options("auto")
  assert options == {conv_lib.YNN_FUSION_OPTION: conv_lib.YNN_MATRIX_PRODUCTS_ONLY}
  assert conv_lib.compiler_options("xla") == {}
  default_text, default_gradient = compiled_weight_gradient({})
  text, gradient = compiled_weight_gradient(options)
  assert "__ynn_fusion" in default_text and "__ynn_fusion" not in text
  scale = float(jnp.abs(default_gradient).max())
  np.testing.assert_allclose(gradient, default_gradient, rtol=0, atol=1e-5 * scale)
  monkeypatch.setenv("XLA_FLAGS", f"--{conv_lib.YNN_FUSION_OPTION}=-individual_convolution")
  assert conv_lib.compiler_options("auto") == {}  # the user's own setting stands
