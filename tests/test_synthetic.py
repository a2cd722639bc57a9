"""Forgery synthesis: deterministic, varied, exact masks, a photo's life; photo
sources (folders with bad files, cut-outs, TFDS); the stored ncl_synthetic
benchmark, built and read without TensorFlow."""

import dataclasses
import importlib.util
import io
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from ncl_jax import synthesis
from ncl_jax.data import ncl_synthetic
from ncl_jax.synthesis import edits, recipe, regions
from tests.conftest import REPO_ROOT, TINY_DATASET_OPTIONS, photo_and_cutout_folders

KNOBS = synthesis.SynthesisConfig(camera_long_side=(96, 192))


@pytest.fixture(scope="module")
def bundled():
  return synthesis.ForgerySource(synthesis.BundledPhotos(), KNOBS, seed=3, length=200)


def test_forgeries_are_a_pure_function_of_seed_and_index(bundled):
  again = synthesis.ForgerySource(synthesis.BundledPhotos(), KNOBS, seed=3, length=200)
  for index in (0, 17, 150):
    a, b = bundled[index], again[index]
    assert a["image"] == b["image"] and np.array_equal(a["mask"], b["mask"])
  other_seed = synthesis.ForgerySource(synthesis.BundledPhotos(), KNOBS, seed=4, length=200)
  assert other_seed[0]["image"] != bundled[0]["image"]
  assert bundled[1]["image"] != bundled[2]["image"]


def test_a_source_travels_to_worker_processes(bundled):
  """grain pickles the source for each worker process: the copy (with an empty
  photo cache and its own lock) makes the same forgeries."""
  bundled[5]  # the cache and the lock are in use
  copy = pickle.loads(pickle.dumps(bundled))
  assert len(copy.cache._photos) == 0  # pylint: disable=protected-access
  for index in (5, 42):
    assert copy[index]["image"] == bundled[index]["image"]


def test_a_range_knob_given_twice_fails_with_its_name():
  with pytest.raises(ValueError, match="camera_long_side=.*expected 2 values"):
    synthesis.SynthesisConfig.from_config({"camera_long_side": (128, 256, 512, 2048)})


def test_forgeries_cover_every_kind_format_and_keep_mask_and_image_aligned(bundled):
  records = [bundled[i] for i in range(60)]
  assert {r["manipulation_type"] for r in records} == set(recipe.KINDS)
  assert {r["image_format"] for r in records} == {"jpeg", "png"}
  for record in records:
    image = Image.open(io.BytesIO(record["image"]))
    assert image.format.lower() == record["image_format"]
    assert record["mask"].shape == (image.height, image.width)
    assert record["mask"].dtype == np.uint8 and set(np.unique(record["mask"])) <= {0, 1}
    assert record["label"] == int(record["mask"].any())
    assert (record["manipulation_type"] == "authentic") == (not record["mask"].any())
    assert max(image.size) <= KNOBS.camera_long_side[1]


@pytest.mark.parametrize("kind", ["splicing", "copy_move", "removal"])
def test_an_edit_changes_exactly_its_mask(kind):
  """Without feathering or noise, an edit changes pixels inside its mask only, and
  most of them."""
  knobs = dataclasses.replace(
    KNOBS,
    feather_probability=0.0,
    content_noise_probability=0.0,
    content_blur_probability=0.0,
    region_area=(0.05, 0.2),
  )
  rng = np.random.default_rng(5)
  photos = synthesis.PhotoCache(synthesis.BundledPhotos(), 256)
  host = photos.get(2).rgb
  if kind == "splicing":
    edit = edits.splice(rng, host, photos.get(0), knobs)
  elif kind == "copy_move":
    edit = edits.copy_move(rng, host, knobs)
  else:
    edit = edits.removal(rng, host, knobs)
  image, mask = edit.apply(host), edit.mask
  changed = np.abs(image.astype(int) - host).max(-1) > 0
  assert mask.any()
  assert not (changed & (mask == 0)).any()
  assert changed[mask > 0].mean() > 0.5


def test_cutouts_are_pasted_with_their_own_shape():
  rng = np.random.default_rng(0)
  alpha = np.zeros((60, 40), np.uint8)
  alpha[10:50, 5:35] = 255
  alpha[10:30, 5:15] = 0  # an L-shaped object
  cutout = synthesis.Photo(np.full((60, 40, 3), 200, np.uint8), alpha)
  assert cutout.is_cutout
  knobs = dataclasses.replace(
    KNOBS,
    feather_probability=0.0,
    colour_match_probability=0.0,
    content_noise_probability=0.0,
    content_blur_probability=0.0,
    donor_jpeg_probability=0.0,
  )
  host = np.zeros((120, 160, 3), np.uint8)
  edit = edits.splice(rng, host, cutout, knobs)
  image, mask = edit.apply(host), edit.mask
  np.testing.assert_array_equal(image.max(-1) > 100, mask > 0)
  top, bottom, left, right = regions.bounding_box(mask)
  assert mask[top:bottom, left:right].mean() < 0.95  # not a rectangle: the L survived


def test_final_save_shifts_the_jpeg_grid_and_crops_the_mask_alike():
  rng = np.random.default_rng(1)
  knobs = dataclasses.replace(
    KNOBS, rescale_probability=0.0, final_png_probability=0.0, grid_shift_probability=1.0
  )
  image = np.random.default_rng(2).integers(0, 256, (100, 120, 3), np.uint8)
  mask = np.zeros((100, 120), np.uint8)
  mask[40:60, 50:70] = 1
  data, fmt, saved = recipe.final_save(rng, image, mask, knobs)
  decoded = Image.open(io.BytesIO(data))
  assert fmt == "jpeg" and saved.shape == (decoded.height, decoded.width)
  dy, dx = 100 - decoded.height, 120 - decoded.width
  assert 1 <= dy <= 7 and 1 <= dx <= 7
  np.testing.assert_array_equal(saved, mask[dy:, dx:])


def test_photo_folder_skips_what_it_cannot_read_and_uses_cutouts_as_donors(tmp_path, caplog):
  folder = tmp_path / "photos"
  (folder / "nested").mkdir(parents=True)
  rng = np.random.default_rng(0)
  for name in ("a.jpg", "nested/b.png"):
    Image.fromarray(rng.integers(0, 256, (90, 120, 3), np.uint8)).save(folder / name)
  (folder / "notes.txt").write_text("not a photo")
  (folder / "empty.jpg").write_bytes(b"")
  buffer = io.BytesIO()
  Image.fromarray(rng.integers(0, 256, (90, 120, 3), np.uint8)).save(buffer, "PNG")
  (folder / "truncated.png").write_bytes(buffer.getvalue()[:300])  # header fine, data cut
  rgba = np.zeros((50, 50, 4), np.uint8)
  rgba[10:40, 10:40] = 255
  Image.fromarray(rgba).save(folder / "stamp.png")
  photos = synthesis.FolderPhotos(folder)
  assert [photos.name(i) for i in range(len(photos))] == [
    "a.jpg",
    "nested/b.png",
    "stamp.png",
    "truncated.png",
  ]
  assert len(photos.skipped) == 2
  source = synthesis.ForgerySource(photos, KNOBS, seed=0, length=50)
  assert source.cutouts == [2] and source.hosts == [0, 1, 3]
  records = [source[i] for i in range(30)]  # the truncated photo never breaks it
  assert {r["photo"] for r in records} <= {"a.jpg", "nested/b.png"}
  assert any("truncated.png" in message for message in caplog.messages)
  (tmp_path / "empty").mkdir()
  (tmp_path / "empty" / "readme.txt").write_text("no photos here")
  with pytest.raises(synthesis.PhotoError, match="no image in .*empty.*1 file"):
    synthesis.FolderPhotos(tmp_path / "empty")
  with pytest.raises(synthesis.PhotoError, match="does not exist"):
    synthesis.FolderPhotos(tmp_path / "missing")


def test_tfds_image_dataset_as_a_photo_source(tmp_path):
  """Any TFDS image dataset built as ArrayRecord: only its image feature is used."""
  import tensorflow_datasets as tfds

  class TinyImages(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
      return tfds.core.DatasetInfo(
        builder=self,
        features=tfds.features.FeaturesDict(
          {
            "image": tfds.features.Image(encoding_format="jpeg"),
            "label": tfds.features.ClassLabel(num_classes=2),
          }
        ),
      )

    def _split_generators(self, dl_manager):
      return {"train": self._generate_examples()}

    def _generate_examples(self):
      rng = np.random.default_rng(0)
      for i in range(3):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (80, 100, 3), np.uint8)).save(buffer, "JPEG")
        yield i, {"image": buffer.getvalue(), "label": i % 2}

  builder = TinyImages(data_dir=str(tmp_path), file_format="array_record")
  builder.download_and_prepare()
  photos = synthesis.TfdsPhotos("tiny_images", str(tmp_path))
  assert len(photos) == 3 and photos.name(1) == "tiny_images[1]"
  assert Image.open(io.BytesIO(photos.encoded(0))).size == (100, 80)
  source = synthesis.ForgerySource(photos, KNOBS, seed=0, length=4)
  assert source[0]["mask"].ndim == 2


def test_a_tfrecord_build_gets_a_clear_error(tmp_path, monkeypatch):
  import tensorflow_datasets as tfds

  class Builder:
    data_dir, data_path = str(tmp_path), str(tmp_path / "coco")
    info = type("Info", (), {"file_format": "tfrecord"})()

    def is_prepared(self):
      return True

    def as_data_source(self, split, decoders=None):
      raise NotImplementedError("Random access data source for file format tfrecord")

  monkeypatch.setattr(tfds, "builder", lambda name, data_dir: Builder())
  with pytest.raises(synthesis.PhotoError, match="only TensorFlow can read.*array_record"):
    synthesis.TfdsPhotos("coco/2017", str(tmp_path))


def test_build_and_read_without_tensorflow(tmp_path):
  """The stored benchmark: built and read with TensorFlow absent, original bytes kept,
  every example equal to the synthesis stream it is stored from."""
  script = textwrap.dedent(f"""
      import importlib.util, sys
      assert importlib.util.find_spec("tensorflow") is None
      from ncl_jax import data
      builder = data.ensure_built({{"name": "ncl_synthetic", "data_dir": {str(tmp_path)!r},
                                   "options": {TINY_DATASET_OPTIONS!r}}}, log=lambda *_: None)
      assert "tensorflow" not in sys.modules
      source = builder.as_data_source("validation")
      print(len(source), sorted(r["file_name"].decode() for r in source))
      """)
  assert importlib.util.find_spec("tensorflow") is None, "TensorFlow must not be installed"
  result = subprocess.run(
    [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().splitlines()[-1].startswith("6 [")

  from ncl_jax import data
  from ncl_jax.input import input_pipeline

  builder = data.get_builder(
    {"name": "ncl_synthetic", "data_dir": str(tmp_path), "options": TINY_DATASET_OPTIONS}
  )
  assert builder.is_prepared() and builder.version == "3.0.0"
  config = ncl_synthetic.config_from_options(TINY_DATASET_OPTIONS)
  for split, count in (("train", 24), ("validation", 6), ("test", 6)):
    source = builder.as_data_source(split)
    stream = ncl_synthetic.forgeries(config, split)
    assert len(source) == len(stream) == count
    for record in source:
      name = record["file_name"].decode()
      expected = stream.forgery(int(name.split("_")[1].split(".")[0]))
      assert record["image"] == expected.image_bytes  # original bytes, not re-encoded
      assert record["image_format"].decode() == expected.image_format
      mask = np.asarray(Image.open(io.BytesIO(record["mask"])))
      assert set(np.unique(mask)) <= {0, 255}
      np.testing.assert_array_equal(mask > 0, expected.mask > 0)
      assert record["label"] == int(expected.mask.any())
      assert record["manipulation_type"].decode() == expected.kind
      assert (record["height"], record["width"]) == expected.mask.shape
      assert max(expected.mask.shape) <= 96  # cameras at most 1.5x image_size
      example = input_pipeline.decode_example(record)
      assert example["image"].shape == expected.mask.shape + (3,)


def test_different_options_get_different_directories():
  from ncl_jax import data

  a = data.get_builder({"name": "ncl_synthetic", "data_dir": "/tmp/x", "options": {"seed": 1}})
  b = data.get_builder({"name": "ncl_synthetic", "data_dir": "/tmp/x", "options": {"seed": 2}})
  c = data.get_builder({"name": "ncl_synthetic", "data_dir": "/tmp/x", "options": {}})
  assert len({a.data_path, b.data_path, c.data_path}) == 3
  assert c.builder_config.name == "default"


def test_a_staged_cutout_joins_an_untouched_scene_only_when_asked(tmp_path):
  photos, hosts_only = photo_and_cutout_folders(tmp_path, brightest=59)  # and a white bar
  knobs = dataclasses.replace(
    KNOBS,
    authentic_fraction=1.0,
    region_area=(0.05, 0.1),
    colour_match_probability=0.0,
    final_png_probability=1.0,
    rescale_probability=0.0,
  )

  def white_share(stream, index):
    pixels = np.asarray(Image.open(io.BytesIO(stream[index]["image"])))
    return (pixels.min(-1) > 150).mean()

  staged = synthesis.ForgerySource(
    photos, dataclasses.replace(knobs, staged_cutout_probability=1.0), seed=0, length=8
  )
  for index in range(4):
    example = staged[index]
    assert example["manipulation_type"] == "authentic" and example["label"] == 0
    assert not example["mask"].any()
    assert white_share(staged, index) > 0.01  # the bar is in the photo
  legacy = synthesis.ForgerySource(photos, knobs, seed=0, length=8)
  without_cutouts = synthesis.ForgerySource(hosts_only, knobs, seed=0, length=8)
  # Off, the stream draws nothing more: the same images with or without cut-outs.
  assert [legacy[i]["image"] for i in range(4)] == [without_cutouts[i]["image"] for i in range(4)]
  assert max(white_share(legacy, i) for i in range(4)) == 0
