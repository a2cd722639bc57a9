"""The cheaper input pipeline computes what the plain computation does: an edit's
box holds everything it changes, a donor's window is the window of the whole
donor, OpenCV decodes Pillow's pixels, the photo cache keeps what fits its
budget; the stage profile charges each stage its own time; the benchmark's
pipeline-only JSON."""

import dataclasses
import io
import json
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest
from PIL import Image

from ncl_jax import synthesis
from ncl_jax.input import imaging, stage_profile
from ncl_jax.synthesis import edits, regions
from tests.conftest import REPO_ROOT, run_module, tiny_config_file

KNOBS = synthesis.SynthesisConfig()


def test_a_feathered_blend_changes_nothing_beyond_its_box():
  """The blend of the box equals the blend of the whole image with the widest
  feather: the margin holds every pixel the feathered edge reaches."""
  rng = np.random.default_rng(0)
  host = rng.integers(0, 256, (120, 150, 3), np.uint8)
  content = rng.uniform(0, 255, host.shape).astype(np.float32)
  _, mask = regions.random_region(rng, 120, 150, 0.05, 0.1)
  knobs = dataclasses.replace(KNOBS, feather_probability=1.0, feather_sigma=(3.0, 3.0))
  box = regions.box_around(mask, edits.margin(knobs))
  edit = edits.composite(np.random.default_rng(1), host, content[box], mask, box, knobs)
  alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 3.0)  # the whole image's
  alpha = np.where(mask > 0, np.maximum(alpha, 0.5), np.minimum(alpha, 0.49))[..., None]
  whole = host * (1 - alpha) + content * alpha
  np.testing.assert_array_equal(edit.apply(host), edits.to_uint8(whole))
  assert (alpha > 0).sum() > mask.sum() and mask[box].size < mask.size / 2


def test_a_donor_window_is_the_window_of_the_whole_donor():
  """Without its JPEG life, the window resized alone is the whole donor resized,
  windowed (to a shift of under half a pixel: the cut is at a whole donor pixel);
  with it, the donor cut at its 16-pixel block grid is JPEG'd to the same pixels
  away from the cut."""
  rng = np.random.default_rng(0)
  donor = cv2.resize(rng.integers(0, 256, (12, 16, 3), np.uint8), (400, 300), cv2.INTER_CUBIC)
  knobs = dataclasses.replace(KNOBS, donor_jpeg_probability=0.0)
  for size in ((200, 260), (450, 600)):  # shrinking (area) and enlarging (bicubic)
    window = (slice(40, 120), slice(50, 170))
    got = edits._donor_window(rng, donor, size, window, knobs)  # pylint: disable=protected-access
    whole = edits._fit(donor.astype(np.float32), *size)  # pylint: disable=protected-access
    assert got.shape == whole[window].shape
    error = np.abs(got - whole[window]).mean()
    shifted = np.abs(got - whole[45:125, 50:170]).mean()  # five rows off
    assert error < 3.0 and error < shifted / 3
  cut = (slice(32, 160), slice(48, 240))
  jpeg = edits.jpeg_roundtrip(donor, 80)[cut]
  alone = edits.jpeg_roundtrip(donor[cut], 80)
  inner = (slice(8, -8), slice(8, -8))
  np.testing.assert_array_equal(alone[inner], jpeg[inner])


def pillow_decode(data: bytes, min_size):
  """decode_reduced's result by Pillow alone."""
  with Image.open(io.BytesIO(data)) as image:
    height, width = image.height, image.width
    if min_size is not None and image.format == "JPEG":
      image.draft("RGB", (min_size[1], min_size[0]))
    image.load()
    return imaging.to_rgb(image), (height, width)


@pytest.mark.parametrize(
  "mode,fmt", [("RGB", "JPEG"), ("RGB", "PNG"), ("L", "JPEG"), ("RGBA", "PNG")]
)
def test_opencv_decodes_pillows_pixels(mode, fmt):
  rng = np.random.default_rng(0)
  pixels = cv2.resize(rng.integers(0, 256, (9, 12, 3), np.uint8), (1100, 830), cv2.INTER_CUBIC)
  image = Image.fromarray(pixels).convert(mode)
  buffer = io.BytesIO()
  image.save(buffer, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
  for min_size in (None, (512, 512), (200, 200), (100, 100)):
    got, size = imaging.decode_reduced(buffer.getvalue(), "x", min_size)
    expected, expected_size = pillow_decode(buffer.getvalue(), min_size)
    assert size == expected_size
    np.testing.assert_array_equal(got, expected)


def test_the_photo_cache_keeps_what_fits_its_budget():
  photos = synthesis.BundledPhotos(("astronaut", "coffee", "chelsea"))
  sizes = [synthesis.photos.photo_bytes(synthesis.PhotoCache(photos, 256).get(i)) for i in range(3)]
  cache = synthesis.PhotoCache(photos, 256, max_bytes=sum(sizes) - 1)
  first = cache.get(0)
  cache.get(1)
  assert cache.get(0) is first and len(cache._photos) == 2  # pylint: disable=protected-access
  cache.get(2)  # over budget: the least recently used (1) goes
  assert list(cache._photos) == [0, 2]  # pylint: disable=protected-access
  assert cache.bytes == sum(synthesis.photos.photo_bytes(p) for p in cache._photos.values())  # pylint: disable=protected-access


def test_the_stage_profile_charges_each_stage_its_own_time(monkeypatch):
  clock = types.SimpleNamespace(now=0.0)
  monkeypatch.setattr(stage_profile, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))
  module = types.ModuleType("fake_pipeline")

  def inner():
    clock.now += 2.0

  def outer():
    clock.now += 1.0
    module.inner()
    clock.now += 3.0

  module.inner, module.outer = inner, outer
  monkeypatch.setitem(sys.modules, "fake_pipeline", module)
  stages = (("a", "fake_pipeline", "outer"), ("b", "fake_pipeline", "inner"))
  with stage_profile.StageProfile(stages) as profile:
    for _ in range(2):
      profile.run(lambda: (module.outer(), setattr(clock, "now", clock.now + 0.5)))
  assert module.outer is outer and module.inner is inner  # unwrapped again
  assert profile.per_example(2) == {"a": 4000.0, "b": 2000.0, stage_profile.REST: 500.0}


def test_benchmark_of_the_pipeline_alone(tmp_path, tiny_data_dir):
  """--pipeline_only: images/s and the time per stage, no model; and the
  synthesis package imports first (a config file imports it before ncl_jax.data)."""
  config_file = tiny_config_file(tmp_path, tiny_data_dir)
  output = tmp_path / "pipeline.json"
  run = run_module(
    "ncl_jax.benchmark",
    f"--config={config_file}",
    "--pipeline_only",
    "--pipeline_batches=2",
    "--profile_examples=4",
    f"--output={output}",
    timeout=300,
  )
  assert run.returncode == 0, run.stderr[-3000:]
  result = json.loads(output.read_text())
  assert result["input_pipeline_images_per_second"] > 0 and "train_images_per_second" not in result
  assert {"decode", "resize to the model", stage_profile.REST} <= set(result["stage_ms_per_image"])
  first = subprocess.run(
    [sys.executable, "-c", "import ncl_jax.synthesis, configs.photos"],
    cwd=REPO_ROOT,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert first.returncode == 0, first.stderr[-2000:]
