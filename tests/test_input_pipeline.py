import io
import pickle
import re

import cv2
import jax
import numpy as np
import pytest
from PIL import Image

from ncl_jax import normalization
from ncl_jax.config_schema import ConfigError, validate_config
from ncl_jax.data import features as features_lib
from ncl_jax.input import imaging, input_pipeline, post_processing
from ncl_jax.training import train
from tests.conftest import tiny_config


def encoded(array, fmt="PNG", mode=None):
  buffer = io.BytesIO()
  image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
  image.save(buffer, fmt)
  return buffer.getvalue()


def make_record(image, mask, name="x.png", fmt="PNG"):
  return features_lib.make_example(encoded(image, fmt), fmt.lower(), mask, name)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_decode_image_converts_modes_to_rgb(mode):
  rgb = np.random.default_rng(0).integers(0, 256, (12, 10, 3), np.uint8)
  if mode == "I;16":
    data = encoded((rgb[..., 0].astype(np.uint16) * 257), "PNG")
  else:
    data = encoded(rgb, "TIFF" if mode == "CMYK" else "PNG", mode)
  image = imaging.decode_image(data, "f")
  assert image.shape == (12, 10, 3) and image.dtype == np.uint8
  if mode == "I;16":  # 16-bit scaled down to 8 bits, not clipped
    np.testing.assert_allclose(image[..., 0], rgb[..., 0], atol=1)


def test_decode_errors_name_the_file():
  with pytest.raises(imaging.DecodeError, match="broken.jpg"):
    imaging.decode_image(b"not an image", "broken.jpg")
  full = encoded(np.zeros((64, 64, 3), np.uint8), "JPEG")
  with pytest.raises(imaging.DecodeError, match="cut.jpg"):
    imaging.decode_image(full[: len(full) // 2], "cut.jpg")


def test_mask_binarized_at_127_and_resized_to_image():
  mask_values = np.array([[0, 127], [128, 255]], np.uint8)
  np.testing.assert_array_equal(imaging.binarize_mask(mask_values), [[0, 0], [1, 1]])
  image = np.zeros((8, 6, 3), np.uint8)
  record = make_record(image, np.ones((8, 6)), "a.png")
  record["mask"] = encoded(
    np.kron(np.array([[0, 255], [255, 0]], np.uint8), np.ones((2, 3), np.uint8))
  )  # 4x6 mask, 8x6 image
  example = input_pipeline.decode_example(record)
  assert example["mask"].shape == (8, 6)
  assert set(np.unique(example["mask"])) == {0, 1}


def test_mask_cache_returns_what_decoding_gives_and_decodes_each_mask_once(monkeypatch):
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (40, 60, 3), np.uint8)
  gray = np.zeros((40, 60), np.uint8)
  gray[5:30, 10:50] = 200  # nonbinary values, binarized
  records = [
    make_record(image, np.zeros((40, 60)), "plain.png"),
    make_record(image, np.zeros((40, 60)), "gray.png"),
    make_record(image, np.zeros((40, 60)), "small.png"),
  ]
  records[1]["mask"] = encoded(gray)
  records[2]["mask"] = encoded(gray[::2, ::2])  # another size: resized
  plain = input_pipeline.TrainPreprocess(image_size=32)
  cache = input_pipeline.MaskCache(2**20)
  cached = input_pipeline.TrainPreprocess(image_size=32, mask_cache=cache)
  decodes = []
  decode_mask = input_pipeline.decode_mask
  monkeypatch.setattr(
    input_pipeline, "decode_mask", lambda *args: decodes.append(args[1]) or decode_mask(*args)
  )
  for epoch in range(3):
    for index, record in enumerate(records):
      expected = plain.random_map(record, np.random.default_rng(index))
      got = cached.random_map(record, np.random.default_rng(index))
      assert got.keys() == expected.keys()
      for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=f"{epoch} {index} {key}")
  assert expected["mask_resized"] and expected["mask_nonbinary"] and expected["mask"].any()
  assert decodes.count("gray.png") == 3 + 1  # plain: every epoch; cached: once
  assert (cache.hits, cache.misses) == (6, 3)
  # A worker process gets an empty cache with the same bound.
  copy = pickle.loads(pickle.dumps(cached)).mask_cache
  assert (
    copy.max_bytes == 2**20 and copy.bytes == 0 and copy.get(next(iter(cache._entries))) is None
  )


def test_mask_cache_evicts_least_recently_used_past_its_bound():
  mask = np.ones((32, 32), np.uint8)  # 128 bytes packed
  cache = input_pipeline.MaskCache(300)
  keys = [input_pipeline.MaskCache.key(bytes([i]), (32, 32)) for i in range(3)]
  cache.put(keys[0], mask, False, False)
  cache.put(keys[1], mask, False, False)
  assert cache.get(keys[0]) is not None  # keys[1] is now the least recently used
  cache.put(keys[2], mask, True, False)
  assert cache.get(keys[1]) is None and cache.bytes == 256
  got, nonbinary, resized = cache.get(keys[2])
  np.testing.assert_array_equal(got, mask)
  assert got.dtype == np.uint8 and nonbinary and not resized


def test_train_preprocess_resize_flip_and_normalize_on_the_device():
  """Training batches carry uint8 pixels; the train step's lookup gives exactly
  NumPy's (pixel - mean) / std for every value of every channel."""
  image = np.zeros((40, 60, 3), np.uint8)
  image[:, :30] = 255
  mask = np.zeros((40, 60), np.uint8)
  mask[:, :30] = 1
  record = make_record(image, mask)
  transform = input_pipeline.TrainPreprocess(image_size=32, crop="resize", random_flip=True)
  seen_flipped = seen_plain = False
  for seed in range(8):
    out = transform.random_map(record, np.random.default_rng(seed))
    assert out["image"].shape == (32, 32, 3) and out["image"].dtype == np.uint8
    assert out["mask"].shape == (32, 32) and set(np.unique(out["mask"])) <= {0, 1}
    left_white = out["mask"][:, 0].all()
    # the image and its mask are flipped together
    assert (out["image"][:, 0, 0] > 0).all() == left_white
    seen_flipped |= not left_white
    seen_plain |= left_white
  assert seen_flipped and seen_plain
  np.testing.assert_array_equal(out["image"][0, 0 if left_white else 31], [255, 255, 255])
  every_value = np.stack([np.arange(256, dtype=np.uint8)] * 3, -1)[None, :, None]  # [1, 256, 1, 3]
  expected = (every_value.astype(np.float32) - normalization.IMAGENET_MEAN) / (
    normalization.IMAGENET_STD
  )
  np.testing.assert_array_equal(np.asarray(jax.jit(train.model_images)(every_value)), expected)
  np.testing.assert_array_equal(imaging.normalize(every_value[0]), expected[0])


def test_train_preprocess_quarter_turns_image_and_mask_together():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (32, 32, 3), np.uint8)
  mask = (image[..., 0] > 128).astype(np.uint8)
  transform = input_pipeline.TrainPreprocess(
    image_size=32, crop="resize", random_flip=False, random_rotate=True
  )
  turns = set()
  for seed in range(12):
    out = transform.random_map(make_record(image, mask), np.random.default_rng(seed))
    turn = [k for k in range(4) if np.array_equal(out["mask"], np.rot90(mask, k))]
    assert len(turn) == 1
    np.testing.assert_array_equal(out["image"], np.rot90(image, turn[0]))
    turns.add(turn[0])
  assert turns == {0, 1, 2, 3}


def test_random_crop_keeps_image_and_mask_aligned():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (50, 70, 3), np.uint8)
  mask = (image[..., 0] > 128).astype(np.uint8)
  crop_image, crop_mask = input_pipeline.random_crop(image, mask, 32, rng)
  assert crop_image.shape == (32, 32, 3)
  np.testing.assert_array_equal(crop_mask, (crop_image[..., 0] > 128).astype(np.uint8))
  small_image, small_mask = input_pipeline.random_crop(image[:20, :20], mask[:20, :20], 32, rng)
  assert small_image.shape == (32, 32, 3) and small_mask.shape == (32, 32)


def test_native_crop_keeps_the_files_own_pixels_and_pads_short_sides_as_predict_does():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (50, 70, 3), np.uint8)
  mask = (image[..., 0] > 128).astype(np.uint8)
  crops = set()
  for seed in range(6):
    crop_image, crop_mask = input_pipeline.native_crop(image, mask, 32, np.random.default_rng(seed))
    np.testing.assert_array_equal(crop_mask, (crop_image[..., 0] > 128).astype(np.uint8))
    # A window of the original, not resampled: found at one place.
    corners = [
      (t, l)
      for t in range(19)
      for l in range(39)
      if np.array_equal(image[t : t + 32, l : l + 32], crop_image)
    ]
    assert len(corners) == 1
    crops.add(corners[0])
  assert len(crops) > 1
  small, small_mask = input_pipeline.native_crop(image[:20, :40], mask[:20, :40], 32, rng)
  expected = np.pad(image[:20, :40], ((0, 12), (0, 0), (0, 0)), mode="reflect")
  assert any(np.array_equal(small, expected[:, l : l + 32]) for l in range(9))
  assert small_mask.shape == (32, 32)
  transform = input_pipeline.TrainPreprocess(image_size=32, crop="native_crop")
  out = transform.random_map(make_record(image, mask), np.random.default_rng(0))
  np.testing.assert_array_equal(out["mask"], (out["image"][..., 0] > 128).astype(np.uint8))


def _source(count, size=(24, 20)):
  rng = np.random.default_rng(1)
  records = []
  for i in range(count):
    mask = np.zeros(size, np.uint8)
    mask[: i + 1] = 1 if i % 3 else 0
    records.append(make_record(rng.integers(0, 256, size + (3,), np.uint8), mask, f"{i}.png"))
  return records


def test_eval_dataset_pads_without_dropping_or_repeating():
  source = _source(7, size=(24, 20))
  batches = list(
    input_pipeline.create_eval_dataset(source, image_size=16, batch_size=3, num_threads=1)
  )
  assert len(batches) == 3
  valid = np.concatenate([b["valid"] for b in batches])
  indices = np.concatenate([b["index"] for b in batches])[valid]
  assert valid.sum() == 7 and sorted(indices.tolist()) == list(range(7))
  assert batches[-1]["valid"].tolist() == [True, False, False]
  assert batches[0]["image"].shape == (3, 16, 16, 3)
  original = batches[0]["original_mask"][1]
  assert original.shape == (24, 20)  # metrics use the original size
  names = [n for b in batches for n, v in zip(b["file_name"], b["valid"]) if v]
  assert names == [f"{i}.png" for i in range(7)]


def test_train_dataset_same_seed_same_batches(tiny_data_dir):
  from ncl_jax import data
  from tests.conftest import tiny_config

  config = tiny_config(tiny_data_dir)
  source = data.get_builder(config.dataset).as_data_source("train")

  def first_batches(seed):
    config.seed = seed
    iterator = iter(input_pipeline.create_train_dataset(source, config))
    return [next(iterator) for _ in range(3)]

  a, b, c = first_batches(0), first_batches(0), first_batches(1)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x["image"], y["image"])
    np.testing.assert_array_equal(x["mask"], y["mask"])
  assert not np.array_equal(a[0]["image"], c[0]["image"])
  assert a[0]["image"].shape == (4, 64, 64, 3) and a[0]["mask"].shape == (4, 64, 64)


def test_device_prefetch_checkpoint_resumes_on_first_unreturned_batch(tmp_path):
  """Batches waiting in the prefetch buffer are not lost: a checkpoint taken
  after k batches resumes on batch k, as the plain iterator would."""
  import grain
  import jax
  import orbax.checkpoint as ocp

  def dataset():
    return (
      grain.MapDataset.range(1000)
      .seed(3)
      .shuffle()
      .to_iter_dataset(grain.ReadOptions(num_threads=2, prefetch_buffer_size=8))
      .batch(4)
    )

  expected = [batch.tolist() for batch, _ in zip(iter(dataset()), range(10))]
  put = lambda batch: jax.device_put(batch)  # noqa: E731
  prefetched = input_pipeline.DevicePrefetch(iter(dataset()), put, depth=3)
  got = [next(prefetched).tolist() for _ in range(4)]
  assert got == expected[:4]
  manager = ocp.CheckpointManager(str(tmp_path / "ckpt"))
  manager.save(4, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(prefetched)))
  manager.wait_until_finished()
  assert next(prefetched).tolist() == expected[4]  # the run goes on after the save

  restored = input_pipeline.DevicePrefetch(iter(dataset()), put, depth=3)
  manager.restore(4, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(restored)))
  assert [next(restored).tolist() for _ in range(6)] == expected[4:10]
  assert isinstance(next(restored), jax.Array)


def test_device_prefetch_rejects_negative_depth():
  with pytest.raises(ValueError, match="depth"):
    input_pipeline.DevicePrefetch(iter([]), lambda b: b, depth=-1)


def test_post_processing_as_imdlbenco_trains_and_nothing_drawn_when_off():
  """Each operation against OpenCV/NumPy on the image the transform would give
  without it; with every knob at 0 the transform draws what it always did."""
  rng = np.random.default_rng(0)
  image = cv2.GaussianBlur(rng.integers(0, 256, (48, 64, 3), np.uint8), (0, 0), 2)
  mask = np.zeros((48, 64), np.uint8)
  mask[10:30, 20:50] = 1
  record = make_record(image, mask)
  plain = input_pipeline.TrainPreprocess(image_size=32, random_flip=False)
  reference = plain.random_map(record, np.random.default_rng(3))["image"]

  def run(**knobs):
    post = post_processing.PostProcessing(**knobs)
    transform = input_pipeline.TrainPreprocess(image_size=32, random_flip=False, post=post)
    return transform.random_map(record, np.random.default_rng(3))

  alpha = 1 + np.random.default_rng(3).uniform(-0.1, 0.1)
  beta = np.random.default_rng(3).uniform(-0.1, 0.1, 2)[1]
  expected = np.clip(reference * np.float32(alpha) + np.float32(beta * 255), 0, 255).astype(
    np.uint8
  )
  got = run(brightness=0.1, contrast=0.1)["image"]
  assert np.abs(got.astype(int) - expected).max() <= 1  # a table of float32 values
  blurred = run(blur_probability=1.0, blur_kernel=(3, 7))["image"]
  assert any(np.array_equal(blurred, cv2.GaussianBlur(reference, (k, k), 0)) for k in (3, 5, 7))
  compressed = run(jpeg_probability=1.0, jpeg_quality=(100, 100))["image"]
  _, data = cv2.imencode(
    ".jpg", cv2.cvtColor(reference, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100]
  )
  np.testing.assert_array_equal(compressed, cv2.cvtColor(cv2.imdecode(data, 1), cv2.COLOR_BGR2RGB))
  rescaled = run(scale=0.2)
  np.testing.assert_array_equal(rescaled["mask"], plain.random_map(record, None)["mask"])
  assert not np.array_equal(rescaled["image"], reference)
  off = run()
  np.testing.assert_array_equal(off["image"], reference)
  np.testing.assert_array_equal(
    post_processing.photometric(reference, None, post_processing.PostProcessing()), reference
  )


def test_a_train_crop_is_a_window_of_the_resized_image():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (50, 70, 3), np.uint8)
  mask = (image[..., 0] > 128).astype(np.uint8)
  record = make_record(image, mask)
  resized = input_pipeline.TrainPreprocess(image_size=32, random_flip=False).random_map(
    record, np.random.default_rng(0)
  )
  cropping = input_pipeline.TrainPreprocess(image_size=32, random_flip=False, crop_size=16)
  corners = set()
  for seed in range(6):
    out = cropping.random_map(record, np.random.default_rng(seed))
    found = [
      (t, l)
      for t in range(17)
      for l in range(17)
      if np.array_equal(resized["image"][t : t + 16, l : l + 16], out["image"])
      and np.array_equal(resized["mask"][t : t + 16, l : l + 16], out["mask"])
    ]
    assert found, seed
    corners.add(found[0])
  assert len(corners) > 1


@pytest.mark.parametrize(
  "overrides, message",
  [
    ({"input.train_crop_size": 40}, "input.train_crop_size=40 is not a multiple of patch_size"),
    ({"input.train_crop_size": 128}, "needs input.train_crop='resize' and at most image_size=64"),
    (
      {"input.train_crop_size": 32, "input.train_crop": "native_crop"},
      "input.train_crop_size=32 needs input.train_crop='resize'",
    ),
  ],
)
def test_a_bad_train_crop_size_fails_naming_the_key(tmp_path, overrides, message):
  with pytest.raises(ConfigError, match=re.escape(message)):
    validate_config(tiny_config(tmp_path, **overrides), num_devices=1)
