"""Where the input pipeline's time goes, stage by stage.

`StageProfile(STAGES)` wraps the functions that do each stage's work (forgery
synthesis, decoding, resizing) with timers while it is active; each stage is
charged its exclusive time (a stage called inside another is charged to itself
alone), and what no stage claims is the rest (records, flips, Python). It needs
nothing but the module and function names, so it profiles any checkout of the
package that has them (stages it cannot find are left out).
"""

import collections
import functools
import importlib
import time

# (stage, module, function): the functions that do the work of each stage.
STAGES = (
  ("photo decode", "ncl_jax.synthesis.photos", "decode_photo"),
  ("camera crop and resize", "ncl_jax.synthesis.recipe", "camera_image"),
  ("JPEG round trips (camera, donor)", "ncl_jax.synthesis.edits", "jpeg_roundtrip"),
  ("regions", "ncl_jax.synthesis.regions", "random_region"),
  ("regions", "ncl_jax.synthesis.regions", "silhouette"),
  ("donor resize", "ncl_jax.synthesis.edits", "_fit"),
  ("colour match", "ncl_jax.synthesis.edits", "match_colour"),
  ("content blur and noise", "ncl_jax.synthesis.edits", "degrade"),
  ("blend", "ncl_jax.synthesis.edits", "composite"),
  ("copy-move warp", "ncl_jax.synthesis.edits", "warp_box"),
  ("inpainting", "ncl_jax.synthesis.edits", "inpaint"),
  ("smooth and clone fills", "ncl_jax.synthesis.edits", "smooth_fill"),
  ("smooth and clone fills", "ncl_jax.synthesis.edits", "clone_fill"),
  ("edits (the rest)", "ncl_jax.synthesis.edits", "splice"),
  ("edits (the rest)", "ncl_jax.synthesis.edits", "copy_move"),
  ("edits (the rest)", "ncl_jax.synthesis.edits", "removal"),
  ("final save (rescale, encode)", "ncl_jax.synthesis.recipe", "final_save"),
  ("decode", "ncl_jax.input.input_pipeline", "decode_reduced"),
  ("mask decode", "ncl_jax.input.input_pipeline", "decode_mask"),
  ("resize to the model", "ncl_jax.input.input_pipeline", "resize_image"),
  ("mask resize", "ncl_jax.input.input_pipeline", "resize_mask"),
  ("normalize", "ncl_jax.input.input_pipeline", "normalize"),
  ("post-processing", "ncl_jax.input.post_processing", "scaled"),
  ("post-processing", "ncl_jax.input.post_processing", "photometric"),
)
REST = "rest (records, flips, Python)"


class StageProfile:
  """While active (`with`), times the STAGES' functions; `per_example(n)` gives
  milliseconds per example of each stage after n examples."""

  def __init__(self, stages=STAGES):
    self.stages = stages
    self.seconds = collections.Counter()
    self._inner = []  # per active call: seconds spent in the stages it called
    self._originals = []

  def __enter__(self):
    for stage, module_name, function_name in self.stages:
      try:
        module = importlib.import_module(module_name)
      except ImportError:
        continue
      original = getattr(module, function_name, None)
      if original is None:
        continue
      self._originals.append((module, function_name, original))
      setattr(module, function_name, self._timed(stage, original))
    return self

  def __exit__(self, *exc):
    for module, function_name, original in reversed(self._originals):
      setattr(module, function_name, original)
    self._originals.clear()

  def _timed(self, stage, function):
    @functools.wraps(function)
    def timed(*args, **kwargs):
      start = time.perf_counter()
      self._inner.append(0.0)
      try:
        return function(*args, **kwargs)
      finally:
        elapsed, inner = time.perf_counter() - start, self._inner.pop()
        self.seconds[stage] += elapsed - inner
        if self._inner:
          self._inner[-1] += elapsed

    return timed

  def run(self, work):
    """Calls work() and charges what no stage claims to REST."""
    start = time.perf_counter()
    self._inner.append(0.0)
    try:
      return work()
    finally:
      elapsed, inner = time.perf_counter() - start, self._inner.pop()
      self.seconds[REST] += elapsed - inner

  def per_example(self, examples: int) -> dict:
    """{stage: milliseconds per example}, the largest first."""
    return {
      stage: round(1000 * seconds / examples, 3) for stage, seconds in self.seconds.most_common()
    }


def profile_pipeline(source, preprocess, examples: int, seed: int = 0, stages=STAGES) -> dict:
  """Milliseconds per example of each stage, over `examples` records of `source`
  made into training examples by `preprocess` (a grain RandomMap), one at a
  time in this thread (a shorter source is read round again). The records are
  read once first, so photo caches are warm, as in a long run."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  indices = [index % len(source) for index in range(examples)]
  for index in indices:
    source[index]
  rng = np.random.default_rng(seed)
  with StageProfile(stages) as profile:
    for index in indices:
      profile.run(lambda i=index: preprocess.random_map(source[i], rng))
  return profile.per_example(examples)
