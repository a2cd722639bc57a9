"""The sharded contrastive loss (shard_map + all_gather) equals the single-device
loss, value and gradients, on 4 CPU devices."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from tests.conftest import REPO_ROOT

SCRIPT = textwrap.dedent("""
    import json, functools
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import PartitionSpec as P
    from ncl_jax import losses
    assert jax.device_count() == 4
    mesh = jax.make_mesh((4,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
    rng = np.random.default_rng(0)
    n_t, n_a, n_img, d = 16, 24, 8, 6
    arrays = [rng.normal(size=(n_t, d)).astype(np.float32), rng.random(n_t) < 0.7,
              rng.normal(size=(n_a, d)).astype(np.float32), rng.random(n_a) < 0.7,
              np.abs(rng.normal(size=(n_img, d))).astype(np.float32),
              np.abs(rng.normal(size=(n_img, d))).astype(np.float32), rng.random(n_img) < 0.6]
    arrays[3][5:12] = False            # a device with no valid authentic patch at all
    out = {}
    for role in losses.CONTOUR_ROLES:
        def total(t, a, sp, sn, axis_name=None):
            terms = losses.ncl_loss(t, arrays[1], a, arrays[3], sp, sn, arrays[6], 0.1, role, 1,
                                    axis_name=axis_name)
            return terms["total"], terms
        def sharded(t, tv, a, av, sp, sn, sv):
            def inner(t, tv, a, av, sp, sn, sv):
                terms = losses.ncl_loss(t, tv, a, av, sp, sn, sv, 0.1, role, 1, axis_name="data")
                return terms["total"], terms
            return jax.shard_map(inner, mesh=mesh, in_specs=(P("data"),) * 7,
                                 out_specs=(P(), P()))(t, tv, a, av, sp, sn, sv)
        grad_single = jax.grad(total, argnums=(0, 1, 2, 3), has_aux=True)
        grad_sharded = jax.grad(lambda t, a, sp, sn: sharded(t, arrays[1], a, arrays[3], sp, sn,
                                                            arrays[6]), argnums=(0, 1, 2, 3),
                                has_aux=True)
        g1, terms1 = jax.jit(grad_single)(arrays[0], arrays[2], arrays[4], arrays[5])
        g4, terms4 = jax.jit(grad_sharded)(arrays[0], arrays[2], arrays[4], arrays[5])
        out[role] = {"terms": [{k: float(v) for k, v in t.items()} for t in (terms1, terms4)],
                     "grad_diff": max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
                                      for a, b in zip(g1, g4)),
                     "grad_scale": max(float(np.abs(np.asarray(a)).max()) for a in g1)}
    print(json.dumps(out))
    """)


def test_sharded_loss_and_gradients_equal_single_device():
  env = dict(os.environ, PYTHONPATH=REPO_ROOT,
             XLA_FLAGS="--xla_force_host_platform_device_count=4")
  run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
  assert run.returncode == 0, run.stderr[-3000:]
  results = json.loads(run.stdout.strip().splitlines()[-1])
  for role, result in results.items():
    single, sharded = result["terms"]
    for key in single:
      np.testing.assert_allclose(sharded[key], single[key], rtol=1e-5, atol=1e-6,
                                 err_msg=f"{role} {key}")
    assert single["total"] > 0
    assert result["grad_scale"] > 0 and result["grad_diff"] < 1e-5, (role, result)
