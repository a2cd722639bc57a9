"""ncl_synthetic: manipulated images generated from scikit-image's bundled photos."""
import dataclasses

import tensorflow_datasets as tfds

from .. import features as features_lib
from . import generator


@dataclasses.dataclass
class SyntheticConfig(tfds.core.BuilderConfig):
  """Generation parameters; a build is a pure function of them."""
  num_train: int = 2000
  num_validation: int = 200
  num_test: int = 200
  image_size: int = 128
  difficulty: float = 0.5
  authentic_fraction: float = 0.2
  seed: int = 0


DEFAULT_CONFIG = SyntheticConfig(name="default", description="128 px, difficulty 0.5, 2000/200/200")


GENERATION_FIELDS = ("num_train", "num_validation", "num_test", "image_size", "difficulty",
                     "authentic_fraction", "seed")


def config_from_options(options) -> SyntheticConfig:
  """The config for a mapping of generation parameters (missing ones take defaults).

  A non-default set gets a name that encodes every parameter, so two different
  sets never share a dataset directory.
  """
  params = {k: type(getattr(DEFAULT_CONFIG, k))(options.get(k, getattr(DEFAULT_CONFIG, k)))
            for k in GENERATION_FIELDS}
  if all(params[k] == getattr(DEFAULT_CONFIG, k) for k in GENERATION_FIELDS):
    return DEFAULT_CONFIG
  name = "s{seed}_{image_size}px_d{d}_a{a}_n{num_train}_{num_validation}_{num_test}".format(
      d=int(round(params["difficulty"] * 100)), a=int(round(params["authentic_fraction"] * 100)),
      **params)
  return SyntheticConfig(name=name, description="custom generation parameters", **params)


class Builder(tfds.core.GeneratorBasedBuilder):
  """Synthetic splicing / copy-move / removal benchmark, deterministic from a seed."""
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [DEFAULT_CONFIG]
  name = "ncl_synthetic"

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, description=generator.__doc__, features=features_lib.features(),
        homepage="https://github.com/ncl-jax/ncl_jax")

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download: the photos ship with scikit-image
    config = self.builder_config
    return {
        "train": self._generate_examples("train", config.num_train),
        "validation": self._generate_examples("validation", config.num_validation),
        "test": self._generate_examples("test", config.num_test),
    }

  def _generate_examples(self, split, count):
    config = self.builder_config
    for index in range(count):
      example = generator.generate_example(
          config.seed, split, index, config.image_size, config.difficulty,
          config.authentic_fraction)
      file_name = f"{split}_{index:05d}.{'jpg' if example.image_format == 'jpeg' else 'png'}"
      yield file_name, features_lib.make_example(
          example.image_bytes, example.image_format, example.mask, file_name,
          example.manipulation_type)
