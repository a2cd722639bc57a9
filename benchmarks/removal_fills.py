r"""Milliseconds per removal, per fill method and per kind of region, on one core.

  taskset -c 0 python benchmarks/removal_fills.py --photos=PHOTOS \
      --output=benchmarks/cpu_removal_fills.json

Each removal is `edits.removal` on a camera image of configs/photos.py's recipe
(`--long_side`, pixels) drawn from the folder's photos (scikit-image's without
`--photos`), with the fill forced by `removal_method_weights`; its region is
either one of regions.py's (at most 12% of the image, the recipe before
`removal_silhouette_probability`) or a cut-out's silhouette (`silhouette_area`,
the folder's cut-outs; `--smooth_fill_levels` for the smooth fill). Where
`cv2.xphoto` is importable (opencv-contrib-python-headless, e.g. installed with
`pip install --no-deps --target DIR` and put first on PYTHONPATH), its
shift-map and fast FSR inpainting are timed too on the same regions' boxes
(`--xphoto_removals` each): candidates the recipe does not use. The JSON has the
median and mean milliseconds and the mean region area per (region, fill), with
the command, machine and commit.
"""

import dataclasses
import json
import statistics
import time

import cv2
import numpy as np
from absl import app, flags

from ncl_jax import provenance, synthesis
from ncl_jax.synthesis import edits, recipe, regions

FLAGS = flags.FLAGS
flags.DEFINE_string("photos", "", "A photo folder with cut-outs (empty: scikit-image's photos).")
flags.DEFINE_string("output", "", "Where to write the JSON.")
flags.DEFINE_integer("removals", 40, "Removals timed per (region, fill).")
flags.DEFINE_integer("long_side", 1280, "The camera image's long side, pixels.")
flags.DEFINE_integer("smooth_fill_levels", 8, "Pyramid levels of the smooth fill.")
flags.DEFINE_integer("xphoto_removals", 5, "Removals timed per cv2.xphoto method.")

XPHOTO_METHODS = ("INPAINT_SHIFTMAP", "INPAINT_FSR_FAST")


def camera_images(source, count, knobs, seed=0):
  """`count` camera images (uint8 [h, w, 3]) of the source's host photos."""
  cache = synthesis.PhotoCache(source, knobs.camera_long_side[1])
  hosts = [i for i in range(len(source)) if not source.may_have_alpha(i)]
  rng = np.random.default_rng(seed)
  return [
    recipe.camera_image(rng, cache.get(hosts[k % len(hosts)]).rgb, knobs) for k in range(count)
  ], cache


def time_removals(images, cutouts, knobs, seed=0):
  """(milliseconds per removal, region areas) of `edits.removal` on each image."""
  rng = np.random.default_rng(seed)
  times, areas = [], []
  for k, image in enumerate(images):
    cutout = cutouts[k % len(cutouts)] if cutouts else None
    start = time.perf_counter()
    edit = edits.removal(rng, image, knobs, silhouette_of=cutout)
    times.append(1e3 * (time.perf_counter() - start))
    areas.append(float(edit.mask.mean()))
  return times, areas


def time_xphoto(images, cutouts, knobs, method, seed=0):
  """(milliseconds, areas) of cv2.xphoto's `method` filling each removal region
  in its box (the region drawn as `edits.removal` draws it)."""
  rng = np.random.default_rng(seed)
  times, areas = [], []
  for k, image in enumerate(images):
    cutout = cutouts[k % len(cutouts)] if cutouts else None
    region = edits.removal_region(rng, image, knobs, cutout)
    box = regions.box_around(region, 8)
    filled = np.zeros_like(image[box])
    start = time.perf_counter()
    cv2.xphoto.inpaint(image[box], 255 - 255 * region[box], filled, getattr(cv2.xphoto, method))
    times.append(1e3 * (time.perf_counter() - start))
    areas.append(float(region.mean()))
  return times, areas


def summary(region, fill, times, areas) -> dict:
  """One row of the JSON."""
  return {
    "region": region,
    "fill": fill,
    "removals": len(times),
    "median_ms": round(statistics.median(times), 2),
    "mean_ms": round(statistics.mean(times), 2),
    "mean_area": round(statistics.mean(areas), 4),
  }


def main(argv):
  """Time every (region, fill) and write the JSON."""
  del argv
  knobs = dataclasses.replace(
    synthesis.SynthesisConfig(),
    camera_long_side=(FLAGS.long_side, FLAGS.long_side),
    content_noise_probability=0.0,
    smooth_fill_levels=FLAGS.smooth_fill_levels,
  )
  source = synthesis.FolderPhotos(FLAGS.photos) if FLAGS.photos else synthesis.BundledPhotos()
  images, cache = camera_images(source, FLAGS.removals, knobs)
  cutouts = [
    photo
    for photo in (cache.get(i) for i in range(len(source)) if source.may_have_alpha(i))
    if photo.is_cutout
  ]
  results = []
  for region, region_cutouts in (("regions.py (<= 12%)", None), ("silhouette", cutouts)):
    if region == "silhouette" and not cutouts:
      continue
    for index, method in enumerate(edits.REMOVAL_METHODS):
      weights = tuple(float(i == index) for i in range(len(edits.REMOVAL_METHODS)))
      times, areas = time_removals(
        images, region_cutouts, dataclasses.replace(knobs, removal_method_weights=weights)
      )
      results.append(summary(region, method, times, areas))
      print(json.dumps(results[-1]))
    if hasattr(cv2, "xphoto"):
      for method in XPHOTO_METHODS:
        few = images[: FLAGS.xphoto_removals]
        times, areas = time_xphoto(few, region_cutouts, knobs, method)
        results.append(summary(region, f"cv2.xphoto {method} (not used)", times, areas))
        print(json.dumps(results[-1]))
  record = {
    "command": provenance.command(),
    "machine": provenance.machine(),
    "commit": provenance.commit(),
    "photos": FLAGS.photos or "scikit-image's bundled photos",
    "camera_long_side": FLAGS.long_side,
    "smooth_fill_levels": FLAGS.smooth_fill_levels,
    "opencv": cv2.__version__ + (" with contrib (cv2.xphoto)" if hasattr(cv2, "xphoto") else ""),
    "results": results,
  }
  if FLAGS.output:
    with open(FLAGS.output, "w") as file:
      json.dump(record, file, indent=2)
      file.write("\n")


if __name__ == "__main__":
  app.run(main)
