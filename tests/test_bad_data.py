"""Bad examples are repaired or skipped by policy, counted, never a crash; the
decode/preprocess path is fuzzed with hypothesis."""

import io
import struct
import zlib

import numpy as np
import pytest
from absl import flags
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ncl_jax.input import imaging, input_pipeline
from tests.conftest import tiny_config


def png_bytes(array):
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, "PNG")
  return buffer.getvalue()


def record(name, image_bytes, mask_bytes, label=1):
  return {
    "image": image_bytes,
    "mask": mask_bytes,
    "label": label,
    "file_name": name.encode(),
    "image_format": b"png",
    "has_mask": True,
    "manipulation_type": b"",
    "height": 0,
    "width": 0,
  }


def bad_source():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (32, 32, 3), np.uint8)
  good_mask = np.zeros((32, 32), np.uint8)
  good_mask[8:20, 8:20] = 255
  gray_mask = good_mask.copy()
  gray_mask[0, 0] = 90  # not binary
  return [
    record("good.png", png_bytes(image), png_bytes(good_mask)),
    record("corrupt.png", b"\x89PNG\r\n\x1a\n broken", png_bytes(good_mask)),
    record("small_mask.png", png_bytes(image), png_bytes(good_mask[::2, ::2])),
    record("gray_mask.png", png_bytes(image), png_bytes(gray_mask)),
  ]


@pytest.fixture
def parsed_flags():
  """grain's worker processes read absl flags, which programs parse in app.run."""
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


@pytest.mark.usefixtures("parsed_flags")
@pytest.mark.parametrize("policy,num_workers", [("resize", 0), ("skip", 0), ("skip", 2)])
def test_train_pipeline_skips_and_counts_bad_examples(tmp_path, policy, num_workers):
  config = tiny_config(tmp_path, image_size=32, batch_size=2)
  config.input.mask_size_policy = policy
  config.input.num_workers = num_workers  # skips noted in the workers reach this process
  quality = input_pipeline.DataQuality()
  iterator = iter(input_pipeline.create_train_dataset(bad_source(), config, quality))
  for _ in range(6):
    batch = next(iterator)  # never a short batch
    assert batch["image"].shape == (2, 32, 32, 3)
    assert set(np.unique(batch["mask"])) <= {0, 1}
    quality.record_batch(batch)
  counts = quality.snapshot()
  assert counts["data_skipped"] >= 1
  assert any("corrupt.png" in reason for reason in quality.skipped)
  assert counts["data_mask_binarized"] >= 1
  if policy == "resize":
    assert counts["data_mask_resized"] >= 1
    assert not any("small_mask.png" in reason for reason in quality.skipped)
  else:
    assert counts.get("data_mask_resized", 0) == 0
    assert any("small_mask.png" in reason and "differs" in reason for reason in quality.skipped)


def test_eval_pipeline_reports_skipped_examples_without_losing_others():
  batches = list(input_pipeline.create_eval_dataset(bad_source(), 32, 3, num_threads=1))
  reasons = [r for b in batches for r in b["skip_reason"] if r]
  valid = [n for b in batches for n, v in zip(b["file_name"], b["valid"]) if v]
  assert len(reasons) == 1 and "corrupt.png" in reasons[0]
  assert valid == ["good.png", "small_mask.png", "gray_mask.png"]


def png_header_claiming(width, height):
  """A PNG whose header claims a huge size (a decompression bomb's signature)."""

  def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

  return (
    b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
    + chunk(b"IEND", b"")
  )


def test_decompression_bomb_is_refused_with_a_clear_error():
  with pytest.raises(imaging.DecodeError, match="bomb.png: .*over the limit"):
    imaging.decode_image(png_header_claiming(100_000, 100_000), "bomb.png")
  with pytest.raises(imaging.DecodeError, match="bomb.png: 12000x10000 pixels is over"):
    imaging.decode_image(png_header_claiming(12_000, 10_000), "bomb.png")


def check_decode_path(image_bytes, mask_bytes):
  """Either a valid example or DecodeError; any other exception fails the test."""
  try:
    example = input_pipeline.decode_example(record("fuzz.bin", image_bytes, mask_bytes))
  except imaging.DecodeError as error:
    assert "fuzz.bin" in str(error)
    return
  assert example["image"].ndim == 3 and example["image"].shape[2] == 3
  assert example["mask"].shape == example["image"].shape[:2]
  assert set(np.unique(example["mask"])) <= {0, 1}
  transform = input_pipeline.TrainPreprocess(image_size=16)
  out = transform.random_map(record("fuzz.bin", image_bytes, mask_bytes), np.random.default_rng(0))
  assert out["image"].shape == (16, 16, 3) and np.isfinite(out["image"]).all()


VALID_PNG = png_bytes(np.full((8, 8, 3), 100, np.uint8))
VALID_MASK = png_bytes(np.full((8, 8), 255, np.uint8))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(data):
  check_decode_path(data, VALID_MASK)
  check_decode_path(VALID_PNG, data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["PNG", "JPEG", "TIFF", "BMP"]), st.floats(0.0, 1.0))
def test_fuzz_truncated_files(fmt, fraction):
  buffer = io.BytesIO()
  Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 30, 3), np.uint8)).save(
    buffer, fmt
  )
  data = buffer.getvalue()
  check_decode_path(data[: int(len(data) * fraction)], VALID_MASK)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3000), st.integers(1, 3), st.sampled_from(["L", "RGB", "RGBA", "I;16"]))
def test_fuzz_extreme_shapes(long_side, short_side, mode):
  shape = (short_side, long_side) if long_side % 2 else (long_side, short_side)
  if mode == "I;16":
    image = Image.fromarray(np.full(shape, 40000, np.uint16))
  else:
    image = Image.new(mode, shape[::-1], 128)
  mask = np.zeros(shape, np.uint8)
  mask[: shape[0] // 2 + 1] = 255
  buffer = io.BytesIO()
  image.save(buffer, "PNG")
  check_decode_path(buffer.getvalue(), png_bytes(mask))


@pytest.mark.usefixtures("parsed_flags")
def test_train_pipeline_with_workers_resumes_exactly(tmp_path):
  config = tiny_config(tmp_path, image_size=32, batch_size=2)
  config.input.num_workers = 2
  iterator = iter(input_pipeline.create_train_dataset(bad_source(), config))
  for _ in range(3):
    next(iterator)
  state = iterator.get_state()
  expected = [next(iterator) for _ in range(3)]
  resumed = iter(input_pipeline.create_train_dataset(bad_source(), config))
  resumed.set_state(state)
  for want, got in zip(expected, (next(resumed) for _ in range(3))):
    np.testing.assert_array_equal(want["image"], got["image"])
    np.testing.assert_array_equal(want["mask"], got["mask"])
