"""Speed-related behaviour that can be asserted without timing: steps that compile
once, bfloat16 compute with float32 parameters and losses, the benchmark's JSON."""

import json
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ncl_jax import benchmark, provenance
from tests.conftest import REPO_ROOT, make_runtime, run_module, tiny_config, tiny_config_file


def test_bfloat16_steps_compile_once_in_bf16_with_float32_parameters_and_loss(tmp_path):
  config = tiny_config(tmp_path)
  config.model.dtype = "bfloat16"
  runtime, state = make_runtime(config)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.params))
  model = runtime.factory.model
  images = jnp.zeros((4, 64, 64, 3))
  jaxpr = str(
    jax.make_jaxpr(lambda v: model.apply(v, images))(
      {"params": state.params, "batch_stats": state.batch_stats}
    )
  )
  assert "conv_general_dilated" in jaxpr and "bf16" in jaxpr
  for seed in range(3):
    batch = benchmark.random_batch(config, seed)
    state, metrics = runtime.train_step(state, {k: runtime.mesh.shard(v) for k, v in batch.items()})
    runtime.predict(state.variables, runtime.mesh.shard(batch["image"]))
    assert metrics["loss"].dtype == jnp.float32 and np.isfinite(float(metrics["loss"]))
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.params))
  assert runtime.train_step._cache_size() == 1
  assert runtime.predict._cache_size() == 1


@pytest.mark.slow
def test_benchmark_writes_json(tmp_path, tiny_data_dir):
  config_file = tiny_config_file(tmp_path, tiny_data_dir)
  run = run_module(
    "ncl_jax.benchmark",
    f"--config={config_file}",
    "--steps=2",
    "--warmup=1",
    "--pipeline_batches=2",
    "--sweep=4",
    f"--output={tmp_path / 'bench.json'}",
  )
  assert run.returncode == 0, run.stderr[-3000:]
  runs = json.load(open(tmp_path / "bench.json"))
  assert [r["global_batch"] for r in runs] == [4]
  for result in runs:
    assert result["platform"] == "cpu" and result["mfu"] is None
    for key in (
      "compile_seconds",
      "train_images_per_second",
      "model_tflops_per_image",
      "achieved_tflops_per_second",
      "eval_images_per_second",
      "input_pipeline_images_per_second",
    ):
      assert result[key] > 0, key
    assert 0.0 <= result["contrastive_share_of_step"] < 1.0


class _PluginLowered:
  """A lowered computation as CUDA's PJRT plugin gives it: no lowered cost analysis."""

  def __init__(self, lowered):
    self.lowered = lowered

  def cost_analysis(self):
    return None

  def compiler_ir(self, dialect):
    return self.lowered.compiler_ir(dialect)


def test_flops_are_counted_where_the_backend_cannot():
  lowered = jax.jit(jnp.matmul).lower(jnp.ones((8, 32)), jnp.ones((32, 16)))
  assert benchmark.lowered_flops(lowered) == 2 * 8 * 32 * 16
  assert benchmark.lowered_flops(_PluginLowered(lowered)) == 2 * 8 * 32 * 16


def test_torch_comparison_runs_the_same_network(tmp_path):
  """The PyTorch comparator has exactly our segmentation network's parameters, and
  both frameworks' steps are timed on the same batch."""
  pytest.importorskip("torch")
  from benchmarks import compare_torch  # noqa: PLC0415  (needs the optional torch)

  result = compare_torch.compare_with_torch(tiny_config(tmp_path), steps=1, warmup=0)
  assert result["parameters"]["torch"] == result["parameters"]["ncl_jax_segmentation"] > 0
  for key in ("ncl_jax", "torch_eager", "ncl_jax_full_ncl"):
    assert result[key]["train_images_per_second"] > 0, key
    assert result[key]["achieved_tflops_per_second"] > 0, key
  assert result["ratio_to_torch_eager"] > 0 and result["torch_device"] == "cpu"
  assert result["threads"] >= 1 and len(result["step_seconds"]["torch_eager"]) == 1


def test_provenance_names_the_checkout_or_the_commit_it_is_given(monkeypatch):
  """A JSON's commit is the checkout's HEAD; NCL_JAX_COMMIT names it where the tree
  was copied without its history (an accelerator machine)."""
  monkeypatch.delenv("NCL_JAX_COMMIT", raising=False)
  head = subprocess.run(
    ["git", "-C", REPO_ROOT, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
  ).stdout.strip()
  assert provenance.commit().split("+")[0] == head
  monkeypatch.setenv("NCL_JAX_COMMIT", "0123abcd")
  assert provenance.commit() == "0123abcd"
