"""Forgeries synthesized on the fly as an indexable data source for grain.

`ForgerySource(photos, seed, length)[i]` is a record like a TFDS benchmark's
(encoded image bytes, mask, label, file name, manipulation type), a pure function
of (seed, i): resuming a grain iterator or splitting rows across hosts gives the
same forgeries, and a handful of photos gives an endless variety of them.
"""

import logging
import threading

import numpy as np

from ncl_jax.synthesis import photos as photos_lib
from ncl_jax.synthesis import recipe

# Long enough never to repeat in a training run; grain indexes it lazily.
ENDLESS = 2**40


class ForgerySource:
  """Random access to an endless (or `length`-long) stream of synthesized examples.

  Photos whose files have an alpha channel are cut-outs: they are pasted whole
  into other photos (splicing, or staged in an untouched photo's scene) and
  never serve as hosts. A photo that fails to
  decode is reported once and replaced by the next one, deterministically.
  """

  def __init__(
    self,
    source,
    knobs: recipe.SynthesisConfig,
    seed: int,
    length: int = ENDLESS,
    cache_mb: float = 1024,
    photo_indices=None,
    png_compression: int = 0,
  ):
    """`png_compression`: the zlib level of the PNGs (0 for a stream decoded at
    once: the same pixels, written and read in a fraction of the time)."""
    self.knobs, self.seed, self.length = knobs, seed, length
    self.png_compression = png_compression
    self.cache = photos_lib.PhotoCache(source, knobs.camera_long_side[1], int(cache_mb * 2**20))
    indices = list(range(len(source))) if photo_indices is None else list(photo_indices)
    alpha = [source.may_have_alpha(i) for i in indices]
    self.hosts = [i for i, a in zip(indices, alpha) if not a]
    self.cutouts = [i for i, a in zip(indices, alpha) if a]
    if not self.hosts:
      raise photos_lib.PhotoError(
        "no photo to edit: every photo given is a cut-out with "
        "transparency (those are only pasted into other photos)"
      )
    self._reported = set()
    self._lock = threading.Lock()

  def __len__(self):
    return self.length

  def __getstate__(self):
    # Sent to grain's worker processes, which cannot share a lock.
    return {key: value for key, value in self.__dict__.items() if key != "_lock"}

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._lock = threading.Lock()

  def _photo(self, candidates, start):
    """The first photo of `candidates` from position `start` on that decodes."""
    for offset in range(len(candidates)):
      index = candidates[(start + offset) % len(candidates)]
      try:
        return index, self.cache.get(index)
      except photos_lib.PhotoError as error:
        with self._lock:
          if index not in self._reported:
            self._reported.add(index)
            logging.warning("skipped photo %s (%d unusable so far)", error, len(self._reported))
    raise photos_lib.PhotoError(f"none of the {len(candidates)} photos decodes")

  def _random_cutout(self, rng):
    """A cut-out Photo drawn at random (the next one that decodes)."""
    return self._photo(self.cutouts, int(rng.integers(len(self.cutouts))))[1]

  def _cutout_or_none(self, rng, probability: float):
    """A random cut-out Photo with `probability`, else None; nothing is drawn when
    `probability` is 0 or there are no cut-outs, so such a stream stays the same."""
    if self.cutouts and probability > 0 and rng.random() < probability:
      return self._random_cutout(rng)
    return None

  def forgery(self, index: int) -> recipe.Forgery:
    """Forgery `index`, a pure function of (seed, index)."""
    rng = np.random.default_rng([*np.atleast_1d(self.seed), index])
    host_index, host = self._photo(self.hosts, int(rng.integers(len(self.hosts))))
    donor = None
    kind = recipe.draw_kind(rng, self.knobs)
    if kind == "splicing":
      use_cutout = self.cutouts and rng.random() < self.knobs.cutout_probability
      if use_cutout:
        donor = self._random_cutout(rng)
      elif len(self.hosts) > 1:
        pick = int(rng.integers(len(self.hosts) - 1))
        others = [i for i in self.hosts if i != host_index]
        _, donor = self._photo(others, pick)
      else:
        _, donor = host_index, host
    elif kind == "removal":
      donor = self._cutout_or_none(rng, self.knobs.removal_silhouette_probability)
    elif kind == "authentic":
      donor = self._cutout_or_none(rng, self.knobs.staged_cutout_probability)
    name = self.cache.source.name(host_index)
    return recipe.synthesize(rng, host, donor, self.knobs, name, kind, self.png_compression)

  def __getitem__(self, index: int) -> dict:
    if not 0 <= index < self.length:
      raise IndexError(f"index {index} out of range for {self.length} forgeries")
    example = self.forgery(int(index))
    return {
      "image": example.image_bytes,
      "image_format": example.image_format,
      "mask": example.mask,
      "label": int(example.mask.any()),
      "file_name": f"forgery-{self.seed}-{index}",
      "manipulation_type": example.kind,
      "photo": example.photo,
    }
