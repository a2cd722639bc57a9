"""Removals like real ones: a cut-out's silhouette, dilated, over texture; the
smooth fill's pyramid; the stream draws silhouettes only when asked."""

import dataclasses

import cv2
import numpy as np
from PIL import Image

from ncl_jax import synthesis
from ncl_jax.synthesis import edits, recipe, regions
from tests.conftest import photo_and_cutout_folders

KNOBS = synthesis.SynthesisConfig(camera_long_side=(96, 192))


def _legacy_smooth_fill(image, region):
  """The smooth fill as the recipe had it: one normalized Gaussian convolution."""
  box = regions.box_around(region, edits.blur_radius(edits.SMOOTH_FILL_SIGMA) + 1)
  known = 1.0 - region[box].astype(np.float32)
  patch = image[box].astype(np.float32)
  weights = cv2.GaussianBlur(known, (0, 0), 2)
  blurred = cv2.GaussianBlur(patch * known[..., None], (0, 0), 2)
  return box, blurred / np.maximum(weights, 1e-6)[..., None]


def test_smooth_fill_keeps_one_level_and_fills_the_inside_with_more():
  region = np.zeros((120, 160), np.uint8)
  cv2.circle(region, (80, 60), 40, 1, -1)
  image = np.random.default_rng(0).integers(0, 256, (120, 160, 3), np.uint8)
  box, filled = edits.smooth_fill(image, region, levels=1)
  old_box, old = _legacy_smooth_fill(image, region)
  assert box == old_box
  np.testing.assert_array_equal(filled, old)
  inside = region[box] > 0
  assert filled[inside].min() < 1  # one level leaves the inside black
  flat = np.full_like(image, (30, 140, 220))
  _, filled = edits.smooth_fill(flat, region, levels=8)
  np.testing.assert_allclose(
    filled[inside], np.broadcast_to([30, 140, 220], filled[inside].shape), atol=0.5
  )


def test_a_silhouette_is_the_cutouts_shape_dilated_over_the_textured_half():
  alpha = np.zeros((60, 40), np.uint8)
  alpha[10:50, 5:35] = 255
  alpha[10:30, 5:15] = 0  # an L-shaped object
  host = np.full((200, 400, 3), 128, np.uint8)
  host[:, 200:] = np.random.default_rng(1).integers(0, 256, (200, 200, 3), np.uint8)
  for seed in range(5):
    mask = regions.silhouette(np.random.default_rng(seed), host, alpha, (0.02, 0.04), (3, 3))
    top, bottom, left, right = regions.bounding_box(mask)
    shape = mask[top:bottom, left:right]
    # The L survives dilation by 3 px (a rectangle would fill its box) ...
    assert 0.6 < shape.mean() < 0.95
    # ... and its area is the drawn fraction plus the dilated rim.
    assert 0.02 <= mask.mean() <= 0.04 + 3 * 2 * (bottom - top + right - left) / mask.size
    # Of four random places, the most textured one: the noisy half, for most draws.
    assert mask[:, 200:].sum() > mask[:, :200].sum() or seed == 0


def test_the_stream_removes_silhouettes_only_when_asked(tmp_path):
  photos, hosts_only = photo_and_cutout_folders(tmp_path)  # the cut-out: a tall bar
  knobs = dataclasses.replace(
    KNOBS, authentic_fraction=0.0, removal_weight=1.0, splicing_weight=0.0, copy_move_weight=0.0
  )
  legacy = synthesis.ForgerySource(photos, knobs, seed=0, length=20)
  silhouettes = synthesis.ForgerySource(
    photos,
    dataclasses.replace(knobs, removal_silhouette_probability=1.0, silhouette_dilation=(0, 0)),
    seed=0,
    length=20,
  )
  for index in range(6):
    mask = silhouettes[index]["mask"]
    top, bottom, left, right = regions.bounding_box(mask)
    assert bottom - top > right - left  # the bar stands upright (mirrored or not)
    assert mask[top:bottom, left:right].mean() > 0.95
    assert silhouettes[index]["manipulation_type"] == "removal"
  # Off, the stream draws nothing more: the same forgeries with or without cut-outs.
  without_cutouts = synthesis.ForgerySource(hosts_only, knobs, seed=0, length=20)
  assert [legacy[i]["image"] for i in range(4)] == [without_cutouts[i]["image"] for i in range(4)]
  assert recipe.SynthesisConfig().removal_silhouette_probability == 0.0


def test_validation_forgeries_follow_their_own_recipe(tmp_path):
  """`dataset.validation_synthesis`: arms that train on different recipes validate
  on the same forgeries."""
  from ncl_jax import data

  rng = np.random.default_rng(0)
  for name in "abcdef":
    (tmp_path / name).mkdir()
    Image.fromarray(rng.integers(0, 256, (80, 100, 3), np.uint8)).save(tmp_path / name / "p.png")
  base = {"name": "photo_forgeries", "manual_dir": str(tmp_path), "options": {"num_validation": 4}}
  small = {"camera_long_side": (64, 96)}
  other = {**small, "authentic_fraction": 0.9}
  plain = data.get_builder({**base, "synthesis": small})
  pinned = data.get_builder({**base, "synthesis": other, "validation_synthesis": small})
  trained_on_other = data.get_builder({**base, "synthesis": other})
  for index in range(4):
    expected = plain.as_data_source("validation")[index]["image"]
    assert pinned.as_data_source("validation")[index]["image"] == expected
  assert (
    pinned.as_data_source("train")[0]["image"]
    == trained_on_other.as_data_source("train")[0]["image"]
  )


def test_object_removals_validation_removes_cutouts_and_keeps_the_training_stream(tmp_path):
  """configs/recipe_ab.py VALIDATIONS["object_removals"]: every edited validation
  image is a removal of a cut-out's silhouette; the training forgeries stay."""
  import ml_collections

  from configs import recipe_ab
  from ncl_jax import data

  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (80, 100, 3), np.uint8)).save(tmp_path / "a.png")
  rgba = np.zeros((60, 60, 4), np.uint8)
  rgba[5:55, 20:40] = 255  # a tall bar
  Image.fromarray(rgba).save(tmp_path / "stamp.png")
  config = {
    "name": "photo_forgeries",
    "manual_dir": str(tmp_path),
    "options": {"num_validation": 8},
    "synthesis": {"camera_long_side": (64, 96), "authentic_fraction": 0.25},
  }
  dataset = ml_collections.ConfigDict(config)
  recipe_ab.VALIDATIONS["object_removals"](dataset)
  assert dataset.synthesis.to_dict() == config["synthesis"]  # training's recipe unchanged
  plain, removals = data.get_builder(config), data.get_builder(dataset)
  validation = removals.as_data_source("validation")
  kinds = [validation[index]["manipulation_type"] for index in range(8)]
  assert set(kinds) <= {"removal", "authentic"} and "removal" in kinds
  for index in (i for i, kind in enumerate(kinds) if kind == "removal"):
    top, bottom, left, right = regions.bounding_box(validation[index]["mask"].squeeze())
    assert bottom - top > right - left  # the bar's silhouette, not a blob
  assert plain.as_data_source("train")[0]["image"] == removals.as_data_source("train")[0]["image"]
