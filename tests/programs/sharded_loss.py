"""The NCL loss and its gradients for every contour role, on one device and under
shard_map over the 4 devices XLA_FLAGS must give this process; prints JSON.

  XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m tests.programs.sharded_loss
"""

import json

import jax
import numpy as np
from jax.sharding import PartitionSpec as P

from ncl_jax.method import losses


def inputs():
  rng = np.random.default_rng(0)
  n_t, n_a, n_img, d = 16, 24, 8, 6
  arrays = [
    rng.normal(size=(n_t, d)).astype(np.float32),
    rng.random(n_t) < 0.7,
    rng.normal(size=(n_a, d)).astype(np.float32),
    rng.random(n_a) < 0.7,
    np.abs(rng.normal(size=(n_img, d))).astype(np.float32),
    np.abs(rng.normal(size=(n_img, d))).astype(np.float32),
    rng.random(n_img) < 0.6,
  ]
  arrays[3][5:12] = False  # a device with no valid authentic patch at all
  return arrays


def compare(role, arrays, mesh):
  """Terms and gradients of the single-device and the sharded loss for one role."""

  def total(t, a, sp, sn):
    terms = losses.ncl_loss(t, arrays[1], a, arrays[3], sp, sn, arrays[6], 0.1, role, 1)
    return terms["total"], terms

  def inner(t, tv, a, av, sp, sn, sv):
    terms = losses.ncl_loss(t, tv, a, av, sp, sn, sv, 0.1, role, 1, axis_name="data")
    return terms["total"], terms

  def sharded(t, a, sp, sn):
    return jax.shard_map(inner, mesh=mesh, in_specs=(P("data"),) * 7, out_specs=(P(), P()))(
      t, arrays[1], a, arrays[3], sp, sn, arrays[6]
    )

  differentiable = (arrays[0], arrays[2], arrays[4], arrays[5])
  g1, terms1 = jax.jit(jax.grad(total, argnums=(0, 1, 2, 3), has_aux=True))(*differentiable)
  g4, terms4 = jax.jit(jax.grad(sharded, argnums=(0, 1, 2, 3), has_aux=True))(*differentiable)
  return {
    "terms": [{k: float(v) for k, v in t.items()} for t in (terms1, terms4)],
    "grad_diff": max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(g1, g4)),
    "grad_scale": max(float(np.abs(np.asarray(a)).max()) for a in g1),
  }


def main():
  assert jax.device_count() == 4
  mesh = jax.make_mesh((4,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
  arrays = inputs()
  print(json.dumps({role: compare(role, arrays, mesh) for role in losses.CONTOUR_ROLES}))


if __name__ == "__main__":
  main()
