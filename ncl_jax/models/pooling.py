"""Max pooling whose gradient XLA:CPU computes fast; nn.max_pool everywhere else.

jax differentiates a max `lax.reduce_window` through select-and-gather and
select-and-scatter, which XLA:CPU runs slowly: the stem's 3x3 stride-2 pool costs
far more backward than forward (docs/speed-notes.md). On the CPU backend, when
differentiated, the pool is a maximum over the window's taps (strided slices)
and its input gradient a sum over the same taps of strided placements, each tap
passing the output gradient where it holds its window's first maximum in
row-major order, the element XLA's select picks: the gradient is nn.max_pool's
to the bit (tested, ties included), at a fraction of the cost. Not
differentiated, it is XLA's reduce-window.
"""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from ncl_jax.models import conv as conv_lib


def _pool(x, window: int, stride: int, padding: int):
  return nn.max_pool(
    x, (window, window), strides=(stride, stride), padding=((padding, padding), (padding, padding))
  )


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _tap_gradient_pool(x, window, stride, padding):
  return _pool(x, window, stride, padding)


def _taps(padded, window: int, stride: int, out_height: int, out_width: int):
  """(row, column, [batch, out_height, out_width, channels] values) of each window tap."""
  reach_h, reach_w = stride * (out_height - 1) + 1, stride * (out_width - 1) + 1
  for row in range(window):
    for column in range(window):
      yield row, column, padded[:, row : row + reach_h : stride, column : column + reach_w : stride]


def _pad(x, padding: int):
  spread = (padding, padding)
  return jnp.pad(x, ((0, 0), spread, spread, (0, 0)), constant_values=-jnp.inf)


def _forward(x, window, stride, padding):
  # Under differentiation the maximum is taken over the same taps the gradient
  # uses: XLA fuses the two passes better (39 ms against 50 ms at 512 px, batch 8).
  out_height = (x.shape[1] + 2 * padding - window) // stride + 1
  out_width = (x.shape[2] + 2 * padding - window) // stride + 1
  taps = _taps(_pad(x, padding), window, stride, out_height, out_width)
  y = functools.reduce(jnp.maximum, (values for _, _, values in taps))
  return y, (x, y)


def _backward(window, stride, padding, residuals, dy):
  x, y = residuals
  height, width = x.shape[1:3]
  out_height, out_width = y.shape[1:3]
  padded = _pad(x, padding)
  padded_height, padded_width = padded.shape[1:3]
  reach_h, reach_w = stride * (out_height - 1) + 1, stride * (out_width - 1) + 1
  zero = jnp.zeros((), dy.dtype)
  taken = jnp.zeros(y.shape, bool)
  parts = []
  for row, column, values in _taps(padded, window, stride, out_height, out_width):
    chosen = (values == y) & ~taken
    taken = taken | chosen
    parts.append(
      lax.pad(
        jnp.where(chosen, dy, zero),
        zero,
        (
          (0, 0, 0),
          (row, padded_height - row - reach_h, stride - 1),
          (column, padded_width - column - reach_w, stride - 1),
          (0, 0, 0),
        ),
      )
    )
  # Summed from the last tap to the first: an input element then receives its
  # windows' gradients in row-major order of the windows, as XLA's
  # select-and-scatter adds them, so the sums round the same way.
  dx = functools.reduce(jnp.add, parts[::-1])
  return (dx[:, padding : padding + height, padding : padding + width],)


_tap_gradient_pool.defvjp(_forward, _backward)


def max_pool(x, window: int, stride: int, padding: int, impl: str = "auto"):
  """nn.max_pool with a square window and symmetric padding, x: [batch, height,
  width, channels]; `impl` as the model's conv_impl ("auto": the tap gradient on
  the CPU backend, read when traced; "xla": XLA's everywhere)."""
  conv_lib.for_impl(impl)  # validates the name
  if impl == "auto" and jax.default_backend() == "cpu":
    return _tap_gradient_pool(x, window, stride, padding)
  return _pool(x, window, stride, padding)
