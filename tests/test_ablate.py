"""The ablation command: variants on the same data and seeds, resumable, tabulated."""

import json

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ncl_jax import ablate
from ncl_jax.method import losses, objective
from ncl_jax.training import train
from tests.conftest import tiny_config


def test_bce_mode_is_plain_mean_bce(tmp_path):
  config = tiny_config(tmp_path)
  config.pc.mode = "bce"
  config.ncl.weight = 0.0
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(size=(2, 64, 64, 1)), jnp.float32)
  mask = jnp.asarray(rng.random((2, 64, 64)) < 0.3, jnp.float32)
  outputs = {"logits": logits, "aux_logits": {}}
  targets = objective.make_targets(mask, jnp.zeros(2, jnp.uint32), config)
  terms = objective.compute_loss(outputs, targets, config, 0)
  expected = optax.sigmoid_binary_cross_entropy(logits[..., 0], mask).mean()
  np.testing.assert_allclose(float(terms["pc_final"]), float(expected), rtol=1e-5)
  assert "ncl_total" not in terms


@pytest.mark.parametrize(
  "weight, term, loss",
  [
    ("dice_weight", "dice_final", "dice_loss"),
    ("map_image_weight", "map_image_bce", "top_pixels_bce"),
  ],
)
def test_a_weight_adds_its_weighted_term_of_the_final_map(tmp_path, weight, term, loss):
  config = tiny_config(tmp_path)
  rng = np.random.default_rng(1)
  logits = jnp.asarray(rng.normal(size=(2, 64, 64, 1)), jnp.float32)
  mask = jnp.asarray(rng.random((2, 64, 64)) < 0.3, jnp.float32)
  outputs = {"logits": logits, "aux_logits": {}}
  targets = objective.make_targets(mask, jnp.zeros(2, jnp.uint32), config)
  config.ncl.weight = 0.0
  without = objective.compute_loss(outputs, targets, config, 0)
  assert term not in without
  config.pc[weight] = 0.5
  terms = objective.compute_loss(outputs, targets, config, 0)
  np.testing.assert_allclose(
    float(terms[term]), float(getattr(losses, loss)(logits, mask)), rtol=1e-6
  )
  np.testing.assert_allclose(
    float(terms["loss"]), float(without["loss"]) + 0.5 * float(terms[term]), rtol=1e-6
  )


@pytest.mark.slow
def test_ablation_runs_variants_once_and_tabulates(tmp_path, tiny_data_dir, monkeypatch):
  config = tiny_config(tiny_data_dir, eval_every_steps=100)
  variants = ("seg_bce", "switch")
  results = ablate.ablation(config, str(tmp_path), seeds=2, variants=variants)
  assert list(results) == list(variants)
  for result in results.values():
    assert len(result["runs"]) == 2
    mean, std = result["summary"]["pixel_auc"]
    assert 0 <= mean <= 1 and std >= 0
  seeds = json.load(open(tmp_path / "switch" / "seed1" / "config.json"))["seed"]
  assert seeds == 1
  monkeypatch.setattr(
    train, "train_and_evaluate", lambda *a: pytest.fail("a finished run was trained again")
  )
  again = ablate.ablation(config, str(tmp_path), seeds=2, variants=variants)
  assert again["switch"]["summary"] == results["switch"]["summary"]
  table = ablate.ablation_table(results, 2)
  rows = [line for line in table.splitlines() if line.startswith(("| seg_bce", "| switch"))]
  assert len(rows) == 2 and all(row.count("±") == 4 for row in rows)


def test_sweep_trains_the_config_value_once_and_varies_one_key(
  tmp_path, tiny_data_dir, monkeypatch
):
  config = tiny_config(tiny_data_dir)
  trained = []

  def fake_run_once(run_config, workdir, split):
    trained.append(str(workdir))
    return {
      "pixel_f1": run_config.ncl.temperature,
      "pixel_f1_best": run_config.pc.mu,
      "pixel_auc": 0.5,
      "image_auc": 0.5,
      "split": split,
    }

  monkeypatch.setattr(ablate, "run_once", fake_run_once)
  grid = {"ncl.temperature": (config.ncl.temperature, 0.5), "pc.mu": (0.2, config.pc.mu)}
  results = ablate.sweep(config, str(tmp_path), grid=grid)
  base = str(tmp_path / "base")
  assert trained == [base, str(tmp_path / "ncl.temperature=0.5"), str(tmp_path / "pc.mu=0.2"), base]
  assert (
    results[f"ncl.temperature={config.ncl.temperature} (config)"]["pixel_f1"]
    == config.ncl.temperature
  )
  assert results["ncl.temperature=0.5"] == {
    "pixel_f1": 0.5,
    "pixel_f1_best": config.pc.mu,
    "pixel_auc": 0.5,
    "image_auc": 0.5,
  }
  assert results["pc.mu=0.2"]["pixel_f1"] == config.ncl.temperature  # only mu changed


def test_docs_tables_are_the_commands_output():
  """docs/ablations.md shows exactly what ablate wrote (kept as JSON beside it)."""
  import os

  docs = os.path.join(os.path.dirname(__file__), os.pardir, "docs")
  text = open(os.path.join(docs, "ablations.md"), encoding="utf-8").read()
  ablation = json.load(open(os.path.join(docs, "ablation_synthetic.json"), encoding="utf-8"))
  seeds = {len(result["runs"]) for result in ablation.values()}
  assert seeds == {3}
  assert ablate.ablation_table(ablation, 3) in text
  sweep = json.load(open(os.path.join(docs, "sweep_synthetic.json"), encoding="utf-8"))
  assert ablate.sweep_table(sweep) in text
