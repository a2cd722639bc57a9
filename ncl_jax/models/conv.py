"""Convolution for Flax's nn.Conv that XLA:CPU trains fast; `lax.conv_general_dilated`
everywhere else.

XLA:CPU differentiates convolutions far slower than it runs them (docs/speed-notes.md):
a 1x1 convolution's backward pass is slower than the same contraction written as a
matrix product, the weight gradient of a 3x3 convolution over a large map (the
decoder's at 512 px) costs several times its forward, and a 3x3 convolution whose
dilation is a large part of the map (ASPP's rates 12 and 18 on a 32x32 map) mostly
multiplies padding. So, on the CPU backend only:

- a 1x1 convolution is a matrix product (a strided one subsamples its input first);
- a stride-1 convolution whose dilation is at least a third of the map is a sum
  over its kernel taps of matrix products restricted to the rows and columns
  where the shifted input overlaps the map (forward and both gradients);
- a stride-1 convolution over a map of at least 64x64 with at least 256 input and
  output channels keeps XLA's forward and input gradient, and computes its weight
  gradient as one matrix product per kernel tap.

Other backends, and every other convolution, use `lax.conv_general_dilated`
unchanged. Parameters, outputs and gradients are the same as nn.Conv's (tested
to 1e-5); the backend is read when the function is traced.

The model's compiled functions also take `compiler_options(conv_impl)`: on the CPU
backend with "auto", XLA:CPU's own kernels run the convolutions left to XLA and
YNNPACK keeps only the matrix products, as YNNPACK differentiates a convolution over a
large map (the weight gradient is a convolution whose window is the whole map)
several times slower than XLA's kernels on some CPUs (docs/speed-notes.md).
"""

import functools
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

NHWC_HWIO = ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))  # lhs, rhs, out specs as lax reports them


class _Tap(NamedTuple):
  index: int  # kernel position along this axis
  out_start: int  # the output rows (or columns) [out_start, out_stop) it reaches
  out_stop: int
  in_start: int  # the input row (or column) that meets out_start


def _taps(size: int, kernel: int, dilation: int, padding: int):
  """The kernel positions of a stride-1 'same' convolution along one axis that see
  at least one input row, with the rows they connect."""
  taps = []
  for index in range(kernel):
    offset = index * dilation - padding
    start, stop = max(0, -offset), min(size, size - offset)
    if stop > start:
      taps.append(_Tap(index, start, stop, start + offset))
  return taps


def _place(block, shape, top, left):
  """Zero-pad `block` [n, h, w, c] into `shape` with its corner at (top, left)."""
  return lax.pad(
    block,
    jnp.zeros((), block.dtype),
    (
      (0, 0, 0),
      (top, shape[1] - top - block.shape[1], 0),
      (left, shape[2] - left - block.shape[2], 0),
      (0, 0, 0),
    ),
  )


def _tap_pairs(x_shape, kernel_shape, dilation, padding):
  return [
    (row, column)
    for row in _taps(x_shape[1], kernel_shape[0], dilation[0], padding[0])
    for column in _taps(x_shape[2], kernel_shape[1], dilation[1], padding[1])
  ]


def _windows(x, row, column):
  height, width = row.out_stop - row.out_start, column.out_stop - column.out_start
  return x[:, row.in_start : row.in_start + height, column.in_start : column.in_start + width]


def _outputs(y, row, column):
  return y[:, row.out_start : row.out_stop, column.out_start : column.out_stop]


def _tap_sum_forward(x, kernel, dilation, padding, precision):
  shape = x.shape[:3] + kernel.shape[3:]
  total = None
  for row, column in _tap_pairs(x.shape, kernel.shape, dilation, padding):
    part = jnp.einsum(
      "nhwc,cd->nhwd",
      _windows(x, row, column),
      kernel[row.index, column.index],
      precision=precision,
    )
    part = _place(part, shape, row.out_start, column.out_start)
    total = part if total is None else total + part
  return total


def _tap_weight_gradient(x, dy, kernel_shape, dilation, padding, precision):
  grads = {}
  for row, column in _tap_pairs(x.shape, kernel_shape, dilation, padding):
    windows = _windows(x, row, column).reshape(-1, x.shape[-1])
    outputs = _outputs(dy, row, column).reshape(-1, dy.shape[-1])
    grads[row.index, column.index] = jnp.dot(windows.T, outputs, precision=precision)
  zero = jnp.zeros(kernel_shape[2:], dy.dtype)
  return jnp.stack(
    [
      jnp.stack([grads.get((i, j), zero) for j in range(kernel_shape[1])])
      for i in range(kernel_shape[0])
    ]
  )


def _tap_input_gradient(dy, kernel, x_shape, dilation, padding, precision):
  total = None
  for row, column in _tap_pairs(x_shape, kernel.shape, dilation, padding):
    part = jnp.einsum(
      "nhwd,cd->nhwc",
      _outputs(dy, row, column),
      kernel[row.index, column.index],
      precision=precision,
    )
    part = _place(part, x_shape, row.in_start, column.in_start)
    total = part if total is None else total + part
  return total


def _xla_same_conv(x, kernel, dilation, padding, precision):
  return lax.conv_general_dilated(
    x,
    kernel,
    (1, 1),
    tuple((p, p) for p in padding),
    rhs_dilation=dilation,
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
    precision=precision,
  )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _same_conv(x, kernel, dilation, padding, precision, mode):
  """A stride-1 'same' NHWC/HWIO convolution; `mode` "taps" or "tap_weight_gradient"."""
  if mode == "taps":
    return _tap_sum_forward(x, kernel, dilation, padding, precision)
  return _xla_same_conv(x, kernel, dilation, padding, precision)


def _same_conv_forward(x, kernel, dilation, padding, precision, mode):
  return _same_conv(x, kernel, dilation, padding, precision, mode), (x, kernel)


def _same_conv_backward(dilation, padding, precision, mode, residuals, dy):
  # No optimization barrier around x and dy: XLA:CPU removes barriers before it
  # fuses (the compiled paper-size step is the same with or without them), and the
  # taps' slices read x and dy materialized by their producers' own fusions.
  x, kernel = residuals
  if mode == "taps":
    dx = _tap_input_gradient(dy, kernel, x.shape, dilation, padding, precision)
  else:
    _, input_vjp = jax.vjp(lambda v: _xla_same_conv(v, kernel, dilation, padding, precision), x)
    (dx,) = input_vjp(dy)
  dw = _tap_weight_gradient(x, dy, kernel.shape, dilation, padding, precision)
  return dx.astype(x.dtype), dw.astype(kernel.dtype)


_same_conv.defvjp(_same_conv_forward, _same_conv_backward)


def _is_nhwc(rhs_shape, dimension_numbers):
  numbers = lax.conv_dimension_numbers((1, 1, 1, 1), rhs_shape, dimension_numbers)
  return (tuple(numbers.lhs_spec), tuple(numbers.rhs_spec), tuple(numbers.out_spec)) == NHWC_HWIO


def _symmetric_same_padding(padding, kernel_shape, dilation):
  """The per-axis padding if `padding` is the symmetric 'same' padding, else None."""
  if isinstance(padding, str):
    return None
  same = tuple(d * (k - 1) // 2 for k, d in zip(kernel_shape, dilation))
  if all(k % 2 == 1 for k in kernel_shape) and tuple(tuple(p) for p in padding) == tuple(
    (s, s) for s in same
  ):
    return same
  return None


def cpu_strategy(
  lhs_shape, rhs_shape, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count
):
  """ "matmul", "taps", "tap_weight_gradient" or "xla" for a NHWC/HWIO convolution."""
  dilation = tuple(rhs_dilation or (1, 1))
  if feature_group_count != 1 or any(d != 1 for d in (lhs_dilation or (1, 1))):
    return "xla"
  kernel, (in_channels, out_channels) = rhs_shape[:2], rhs_shape[2:]
  if kernel == (1, 1):
    unpadded = padding in ("VALID", "SAME") or all(low == high == 0 for low, high in padding)
    return "matmul" if unpadded else "xla"
  same = _symmetric_same_padding(padding, kernel, dilation)
  if same is None or tuple(window_strides) != (1, 1):
    return "xla"
  height, width = lhs_shape[1:3]
  if min(dilation) * 3 >= min(height, width):
    return "taps"
  if height * width >= 64 * 64 and min(in_channels, out_channels) >= 256:
    return "tap_weight_gradient"
  return "xla"


CONV_IMPLS = ("auto", "xla")


def for_impl(impl: str):
  """The convolution function nn.Conv should use: "auto" (the CPU formulations
  on the CPU backend) or "xla" (`lax.conv_general_dilated` everywhere)."""
  if impl not in CONV_IMPLS:
    raise ValueError(f"conv_impl must be one of {CONV_IMPLS}, got {impl!r}")
  return conv_general_dilated if impl == "auto" else lax.conv_general_dilated


def conv_general_dilated(
  lhs,
  rhs,
  window_strides,
  padding,
  lhs_dilation=None,
  rhs_dilation=None,
  dimension_numbers=None,
  feature_group_count=1,
  batch_group_count=1,
  precision=None,
  preferred_element_type=None,
):
  """`lax.conv_general_dilated`, with the CPU formulations above on the CPU backend."""
  strategy = "xla"
  if (
    jax.default_backend() == "cpu"
    and batch_group_count == 1
    and preferred_element_type is None
    and lhs.ndim == 4
    and _is_nhwc(rhs.shape, dimension_numbers)
  ):
    strategy = cpu_strategy(
      lhs.shape, rhs.shape, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count
    )
  if strategy == "matmul":
    stride_h, stride_w = window_strides
    return jnp.einsum(
      "nhwc,cd->nhwd", lhs[:, ::stride_h, ::stride_w, :], rhs[0, 0], precision=precision
    )
  if strategy in ("taps", "tap_weight_gradient"):
    dilation = tuple(rhs_dilation or (1, 1))
    padding = _symmetric_same_padding(padding, rhs.shape[:2], dilation)
    return _same_conv(lhs, rhs, dilation, padding, precision, strategy)
  return lax.conv_general_dilated(
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation,
    rhs_dilation,
    dimension_numbers,
    feature_group_count,
    batch_group_count,
    precision,
    preferred_element_type,
  )


YNN_FUSION_OPTION = "xla_cpu_experimental_ynn_fusion_type"
YNN_MATRIX_PRODUCTS_ONLY = "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"


@functools.cache
def _ynn_option_supported() -> bool:
  """Whether this jaxlib's XLA:CPU takes the YNNPACK option (its name may change)."""
  try:
    options = {YNN_FUSION_OPTION: YNN_MATRIX_PRODUCTS_ONLY}
    jax.jit(lambda x: x + 1, compiler_options=options)(jnp.zeros((), jnp.float32))
  except jax.errors.JaxRuntimeError:
    return False
  return True


def compiler_options(impl: str) -> dict:
  """XLA options for compiling a model function with conv_impl `impl`: with "auto"
  on the CPU backend, convolutions on XLA:CPU's own kernels and matrix products on
  YNNPACK (the module's docstring); none elsewhere, where this jaxlib lacks the
  option, or where XLA_FLAGS already sets it."""
  if impl != "auto" or jax.default_backend() != "cpu":
    return {}
  if YNN_FUSION_OPTION in os.environ.get("XLA_FLAGS", ""):
    return {}
  return {YNN_FUSION_OPTION: YNN_MATRIX_PRODUCTS_ONLY} if _ynn_option_supported() else {}
