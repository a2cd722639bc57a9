"""Every config validates; benchmark configs build their data on first use and
train; without the data they stop first, saying what to do."""

import glob
import importlib
import json
import os

import pytest

from configs import coverage, protocol_mvss
from ncl_jax.config_schema import validate_config
from ncl_jax.training import train
from tests import benchmark_fixtures
from tests.conftest import REPO_ROOT, run_module

CONFIG_NAMES = sorted(
  os.path.basename(p)[:-3]
  for p in glob.glob(f"{REPO_ROOT}/configs/*.py")
  if not p.endswith(("__init__.py", "benchmark.py"))  # benchmark.py: a config builder
)


@pytest.mark.parametrize("name", CONFIG_NAMES)
@pytest.mark.parametrize("arg", ["", "runlocal"])
def test_config_validates(name, arg):
  module = importlib.import_module(f"configs.{name}")
  config = module.get_config(arg) if arg else module.get_config()
  validate_config(config, num_devices=1)
  if arg:
    assert config.num_train_steps <= 10 and config.image_size == 64


def test_benchmark_configs_override_only_the_dataset():
  from configs import default

  base = default.get_config()
  for name in ("coverage", "columbia", "nist16", "defacto", "imd2020", "casia"):
    config = importlib.import_module(f"configs.{name}").get_config()
    assert config.model == base.model and config.optimizer == base.optimizer
    assert (config.ncl, config.pc, config.image_size) == (base.ncl, base.pc, base.image_size)


def run_main(*args):
  return run_module("ncl_jax.main", *args)


def test_without_data_it_says_where_it_looked(tmp_path):
  run = run_main(
    "--config=configs/coverage.py",
    f"--workdir={tmp_path / 'w'}",
    f"--config.dataset.data_dir={tmp_path / 'tfds'}",
    f"--config.dataset.manual_dir={tmp_path / 'COVERAGE'}",
  )
  assert run.returncode != 0
  assert "DatasetNotFoundError" in run.stderr and str(tmp_path / "COVERAGE") in run.stderr
  assert "github.com/wenbihan/coverage" in run.stderr
  assert not os.path.exists(tmp_path / "w" / "checkpoints")


@pytest.mark.slow
def test_coverage_config_builds_and_trains(tmp_path):
  benchmark_fixtures.make_coverage(tmp_path / "COVERAGE")
  config = coverage.get_config("runlocal")
  config.dataset.data_dir = str(tmp_path / "tfds")
  config.dataset.manual_dir = str(tmp_path / "COVERAGE")
  train.train_and_evaluate(config, str(tmp_path / "w"))
  result = json.load(open(tmp_path / "w" / "eval" / "coverage-test.json"))
  assert (result["num_images"], result["num_manipulated"]) == (2, 1)
  from ncl_jax.data.manual import ManualBuilder

  version = str(ManualBuilder.VERSION)
  assert os.path.exists(tmp_path / "tfds" / "coverage" / "default" / version / "build_report.json")


def test_protocol_mvss_trains_on_casia_v2_and_tests_five_datasets_as_imdlbenco(tmp_path):
  """configs/protocol_mvss.py (configs/casia.py plus four test datasets under IMDL-BenCo's
  protocol) on fixtures laid out as the datasets are downloaded."""
  benchmark_fixtures.make_casia_v2(tmp_path / "CASIA2")
  benchmark_fixtures.make_casia_v1(tmp_path / "CASIA1")
  folders = {"columbia": "Columbia", "coverage": "COVERAGE", "nist16": "NIST16", "imd2020": "IMD"}
  for name, folder in folders.items():
    benchmark_fixtures.MAKERS[name](tmp_path / folder)
  config = protocol_mvss.get_config("runlocal")
  config.dataset.data_dir = str(tmp_path / "tfds")
  config.dataset.manual_dir = str(tmp_path / "CASIA2")
  config.test_datasets.casia_v1.manual_dir = str(tmp_path / "CASIA1")
  for name, folder in folders.items():
    config.test_datasets[name].manual_dir = str(tmp_path / folder)
    config.test_datasets[name].data_dir = str(tmp_path / "tfds")
  train.train_and_evaluate(config, str(tmp_path / "w"))
  expected = sorted(
    f"{name}-{'test' if name == 'casia_v1' else 'train+validation+test'}.json"
    for name in ["casia_v1", *folders]
  )
  assert sorted(os.listdir(tmp_path / "w" / "eval")) == expected
  for file in expected:
    result = json.load(open(tmp_path / "w" / "eval" / file))
    assert result["protocol"] == "imdlbenco", file
    counts = result["metric_num_images"]
    assert counts["pixel_f1"] == counts["pixel_auc"] == result["num_manipulated"] > 0, file
    assert counts["image_auc"] == result["num_images"], file
  casia = json.load(open(tmp_path / "w" / "eval" / "casia_v1-test.json"))
  assert (casia["num_images"], casia["num_manipulated"]) == (5, 3)
  records = [json.loads(line) for line in open(tmp_path / "w" / "metrics.jsonl")]
  assert any(r["split"] == "validation" for r in records)  # model selection on v2 validation


def test_every_recipe_arm_validates_on_the_baselines_validation_forgeries():
  recipe_ab = importlib.import_module("configs.recipe_ab")
  baseline = recipe_ab.get_config("baseline")
  for arm in recipe_ab.ARMS:
    config = validate_config(recipe_ab.get_config(arm), num_devices=1)
    assert config.dataset.validation_synthesis == baseline.dataset.synthesis
    assert (config.to_dict() == baseline.to_dict()) == (arm == "baseline")
  with pytest.raises(ValueError, match="unknown arm 'nope'; arms: baseline"):
    recipe_ab.get_config("nope")
