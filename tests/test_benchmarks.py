"""Every benchmark builder against fixture folders laid out like the real data."""

import io
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from ncl_jax import data
from tests import benchmark_fixtures
from tests.conftest import run_module


def build(name, manual_dir, data_dir, **options):
  return data.ensure_built(
    {"name": name, "manual_dir": str(manual_dir), "data_dir": str(data_dir), "options": options},
    log=lambda *_: None,
  )


def check_against_truth(builder, truth):
  for split, expected in truth["examples"].items():
    records = {r["file_name"].decode(): r for r in builder.as_data_source(split)}
    assert sorted(records) == sorted(expected), split
    for name, mask in expected.items():
      record = records[name]
      stored = np.asarray(Image.open(io.BytesIO(record["mask"])))
      assert set(np.unique(stored)) <= {0, 255}, name
      np.testing.assert_array_equal(stored > 0, mask > 0, err_msg=name)
      image = Image.open(io.BytesIO(record["image"]))
      assert (record["height"], record["width"]) == (image.height, image.width) == mask.shape
      assert record["label"] == int(mask.any()), name
  report = builder.report.as_dict()
  skipped = {
    (split, s["file"]): s["reason"] for split, info in report.items() for s in info["skipped"]
  }
  for key, reason in truth["skipped"].items():
    assert skipped.get(key) == reason, (key, skipped.get(key))


@pytest.mark.parametrize("name", sorted(benchmark_fixtures.MAKERS))
def test_builder_matches_ground_truth(tmp_path, name):
  truth = benchmark_fixtures.MAKERS[name](tmp_path / "download")
  # the splits as published; carving validation from train is tested below
  builder = build(name, tmp_path / "download", tmp_path / "tfds", validation_fraction=0.0)
  check_against_truth(builder, truth)
  report = json.load(open(os.path.join(builder.data_path, "build_report.json")))
  for split, expected in truth["examples"].items():
    assert report[split]["written"] == len(expected)
    assert report[split]["files"] == sorted(expected)  # the split list, as built


def test_original_image_bytes_are_kept(tmp_path):
  benchmark_fixtures.make_coverage(tmp_path / "download")
  builder = build("coverage", tmp_path / "download", tmp_path / "tfds", validation_fraction=0.0)
  for record in builder.as_data_source("train"):
    path = tmp_path / "download" / record["file_name"].decode()
    assert record["image"] == path.read_bytes()
    assert record["image_format"] == b"tiff"


def test_labels_and_types(tmp_path):
  benchmark_fixtures.make_casia_v1(tmp_path / "download")
  builder = build("casia/v1", tmp_path / "download", tmp_path / "tfds")
  records = {r["file_name"].decode(): r for r in builder.as_data_source("test")}
  assert records["Au/Au_ani_0001.jpg"]["label"] == 0
  assert records["Au/Au_ani_0001.jpg"]["manipulation_type"] == b"authentic"
  assert records["Tp/CM/Sp_S_CND_A_pla0016_pla0016_0196.jpg"]["label"] == 1
  assert records["Tp/CM/Sp_S_CND_A_pla0016_pla0016_0196.jpg"]["manipulation_type"] == b"copy_move"
  assert records["Tp/Sp/Sp_D_CND_A_pla0005_pla0023_0281.jpg"]["manipulation_type"] == b"splicing"


def test_mask_size_policy_skip(tmp_path):
  benchmark_fixtures.make_coverage(tmp_path / "download")
  builder = build(
    "coverage",
    tmp_path / "download",
    tmp_path / "tfds",
    mask_size_policy="skip",
    validation_fraction=0.0,
  )
  names = {r["file_name"].decode() for r in builder.as_data_source("train")}
  assert "image/2t.tif" not in names and "image/1t.tif" in names
  reasons = {s["file"]: s["reason"] for s in builder.report.as_dict()["train"]["skipped"]}
  assert reasons["image/2t.tif"] == "mask size mismatch"
  assert "mask_size_policyskip" in builder.builder_config.name  # its own directory


def test_iml_json_list(tmp_path):
  truth = benchmark_fixtures.make_iml_json(tmp_path / "download")
  builder = build(
    "iml_folder", tmp_path / "download" / "list.json", tmp_path / "tfds", folder_name="mylist"
  )
  check_against_truth(builder, truth)
  assert builder.builder_config.name == "mylist"


def test_columbia_rule_is_green_over_red(tmp_path):
  """'Any non-zero pixel' or 'mean RGB > 127' would mark the red region too."""
  truth = benchmark_fixtures.make_columbia(tmp_path / "download")
  builder = build("columbia", tmp_path / "download", tmp_path / "tfds")
  for split in ("train", "test"):
    for record in builder.as_data_source(split):
      if record["file_name"].startswith(b"4cam_splc"):
        mask = np.asarray(Image.open(io.BytesIO(record["mask"])))
        assert 0 < (mask > 0).mean() < 0.6
  assert sum(len(v) for v in truth["examples"].values()) == 7


def test_missing_data_says_where_it_looked_and_where_to_get_it(tmp_path):
  with pytest.raises(data.DatasetNotFoundError) as error:
    build("coverage", tmp_path / "nothing_here", tmp_path / "tfds")
  message = str(error.value)
  assert str(tmp_path / "nothing_here") in message
  assert "github.com/wenbihan/coverage" in message and "--config.dataset.manual_dir" in message
  assert not (tmp_path / "tfds").exists()


def test_wrong_layout_lists_expected_and_found(tmp_path):
  (tmp_path / "download" / "Images").mkdir(parents=True)
  with pytest.raises(
    FileNotFoundError, match=r"expected a folder named one of \['image'\].*Images"
  ):
    build("coverage", tmp_path / "download", tmp_path / "tfds")


def test_unknown_names():
  with pytest.raises(ValueError, match="unknown dataset.name 'casia/v3'"):
    data.get_builder({"name": "casia/v3"})
  with pytest.raises(ValueError, match="needs a config: casia/v1, casia/v2"):
    data.get_builder({"name": "casia"})


def test_build_cli(tmp_path):
  benchmark_fixtures.make_imd2020(tmp_path / "download")
  run = run_module(
    "ncl_jax.data.build",
    "imd2020",
    f"--manual_dir={tmp_path / 'download'}",
    f"--data_dir={tmp_path / 'tfds'}",
    timeout=300,
  )
  assert run.returncode == 0, run.stderr[-3000:]
  assert "train: 1 examples" in run.stdout and "test: 1 examples" in run.stdout
  assert "listed but missing" in run.stdout  # the report names what it skipped


def test_validation_is_carved_from_train_by_group(tmp_path):
  """COVERAGE has no validation split: one is carved from train, a forgery always
  with its original, the same for every build, the train list otherwise intact."""
  benchmark_fixtures.make_coverage(tmp_path / "download")
  whole = build("coverage", tmp_path / "download", tmp_path / "whole", validation_fraction=0.0)
  carved = build(
    "coverage", tmp_path / "download", tmp_path / "carved", validation_fraction=0.5, seed=3
  )

  def names(builder, split):
    return sorted(r["file_name"].decode() for r in builder.as_data_source(split))

  train, validation = names(carved, "train"), names(carved, "validation")
  assert sorted(train + validation) == names(whole, "train")
  assert names(carved, "test") == names(whole, "test")

  def group(name):
    return name.split("/")[1].split(".")[0].rstrip("t")

  assert not {group(n) for n in train} & {group(n) for n in validation}
  report = json.load(open(os.path.join(carved.data_path, "build_report.json")))
  assert report["validation"]["files"] == validation
  again = build(
    "coverage", tmp_path / "download", tmp_path / "again", validation_fraction=0.5, seed=3
  )
  assert names(again, "validation") == validation
  assert len(carved.as_data_source("train+validation+test")) == len(names(whole, "train")) + 2


def test_a_partial_imd2020_builds_what_is_there(tmp_path):
  """Only the test list's folder downloaded: the test split builds, the train
  split's files are reported as listed but missing."""
  truth = benchmark_fixtures.make_imd2020(tmp_path / "download")
  train_image = next(iter(truth["examples"]["train"]))
  shutil.rmtree(tmp_path / "download" / "IMD2020" / train_image.split("/")[0])
  builder = build("imd2020", tmp_path / "download", tmp_path / "tfds")
  assert len(builder.as_data_source("test")) == 1
  report = builder.report.as_dict()
  assert report["train"]["written"] == 0
  assert {"file": train_image, "reason": "listed but missing"} in [
    {k: s[k] for k in ("file", "reason")} for s in report["train"]["skipped"]
  ]
