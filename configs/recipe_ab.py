r"""The recipe's A/B arms: configs/photos_v1.py with one change each, all validated
on the same forgeries (photos-v1's recipe on the sources it holds out).

  python -m ncl_jax.main --config=configs/recipe_ab.py:ARM --workdir=runs/ab/ARM
  python -m ncl_jax.main --config=configs/recipe_ab.py:ARM,runlocal ...   # a smoke run

ARM is one of ARMS. VALIDATIONS are other forgeries of the same held-out photos
that tools/recipe_ab.py can measure a finished run on, and (`collection`) the arms'
own for a run trained on another folder. The table of what each arm changed on
validation is in docs/recipe.md.
"""

import copy

from configs import photos_v1


def smooth_fill_inside(config):
  """The smooth fill reaches a region's inside, so that no removal leaves black
  (real_removals' second change, alone)."""
  config.dataset.synthesis.smooth_fill_levels = 8


def real_removals(config):
  """Half the removals take a cut-out's silhouette (dilated, up to a quarter of
  the image, over texture), and the smooth fill reaches a region's inside."""
  config.dataset.synthesis.removal_silhouette_probability = 0.5
  smooth_fill_inside(config)


def quarter_silhouettes(config):
  """real_removals with a quarter of the removals taking a cut-out's silhouette
  instead of half."""
  real_removals(config)
  config.dataset.synthesis.removal_silhouette_probability = 0.25


def image_head(config):
  """A trained image-level decision (its probability is the image score), with
  two in five training images untouched instead of one in four."""
  config.model.image_head = "pooled"
  config.dataset.synthesis.authentic_fraction = 0.4


def image_head_detached(config):
  """The trained image-level decision learning from the map without a gradient
  into it (the network trains as the baseline's), on the baseline's share of
  untouched images."""
  config.model.image_head = "pooled_detached"


def more_untouched(config):
  """Two in five training images untouched instead of one in four (the image_head
  arm's second change, alone)."""
  config.dataset.synthesis.authentic_fraction = 0.4


def post_processing(config):
  """Global post-processing of every training image as IMDL-BenCo trains with:
  scale +-0.2, brightness and contrast +-0.1, JPEG 70-100 and Gaussian blur 3-7
  each on a fifth, and quarter turns beside the flips."""
  post = config.input.post_processing
  post.scale, post.brightness, post.contrast = 0.2, 0.1, 0.1
  post.jpeg_probability, post.jpeg_quality = 0.2, (70, 100)
  post.blur_probability, post.blur_kernel = 0.2, (3, 7)
  config.input.random_rotate = True


def native_resolution(config):
  """Training on crops of each file at its own resolution, and prediction by
  full-resolution sliding windows (instead of resizing every image to 512), with
  as many views as fit predict's time per photo (docs/recipe.md)."""
  config.input.train_crop = "native_crop"
  config.prediction_strategy = "sliding"
  config.prediction_views = 4


def no_cutouts(config):
  """Every splice takes a region of another photo, never a whole cut-out object."""
  config.dataset.synthesis.cutout_probability = 0.0


def quarter_cutouts(config):
  """A quarter of the splices paste a whole cut-out object instead of half; the
  others take a region of another photo."""
  config.dataset.synthesis.cutout_probability = 0.25


def map_image_loss(config):
  """A binary cross-entropy of the final map's top 1% of pixels against "edited",
  weighted as the image head's, beside the other terms."""
  config.pc.map_image_weight = 1.0


def colour_matched_splices(config):
  """Every splice's pasted content has its colours moved toward the host's where
  it lands (half of them in the baseline), so that standing out from the
  background is no sign of a splice."""
  config.dataset.synthesis.colour_match_probability = 1.0


def learned_residuals(config):
  """Three learned noise residuals (constrained 5x5 filters of the grey level) beside
  the fixed SRM ones, so that the encoder can learn which local noise a paste breaks."""
  config.model.constrained_residuals = 3


def dice_weight(weight: float):
  """The arm whose Dice term of the final map is weighted `weight` instead of 3."""

  def arm(config):
    config.pc.dice_weight = weight

  return arm


def head_lr_x1(config):
  """Every module outside the encoder (ASPP, decoder, output heads, pivot branches)
  trained at the encoder's learning rate instead of ten times it."""
  config.optimizer.head_lr_multiplier = 1.0


def strong_weight_decay(config):
  """AdamW's weight decay 0.05 instead of 1e-4."""
  config.optimizer.weight_decay = 0.05


def contrastive_weight(weight: float):
  """The arm whose contrastive term (NCL's omega) is weighted `weight` instead of 0.1;
  0: the pivot-consistent and Dice losses alone."""

  def arm(config):
    config.ncl.weight = weight

  return arm


def more_photos(config):
  """The photographs of tools/photo_collection.json's training-only packages
  (gcompris-qt-data's monuments and animals) trained on beside the collection's
  training photos, never held out: the validation forgeries stay the same."""
  config.dataset.options.training_only_dirs = ("~/ncl_photos/training_only",)


def staged_cutouts(config):
  """Half the untouched training images have a cut-out pasted into the photo before
  its camera's resize and JPEG save, their masks empty: an object with a clean
  outline that is no edit."""
  config.dataset.synthesis.staged_cutout_probability = 0.5


def resized_crops(config):
  """Every training step on random crops of three quarters of the side of the resized
  images (384 px windows of the 512 px image), for twice the steps: about the
  baseline's compute, at the scale predict sees."""
  config.input.train_crop_size = config.image_size * 3 // 4
  config.num_train_steps *= 2


ARMS = {
  "baseline": lambda config: None,
  "real_removals": real_removals,
  "quarter_silhouettes": quarter_silhouettes,
  "smooth_fill_inside": smooth_fill_inside,
  "image_head": image_head,
  "image_head_detached": image_head_detached,
  "more_untouched": more_untouched,
  "post_processing": post_processing,
  "native_resolution": native_resolution,
  "no_cutouts": no_cutouts,
  "quarter_cutouts": quarter_cutouts,
  "map_image_loss": map_image_loss,
  "colour_matched_splices": colour_matched_splices,
  "learned_residuals": learned_residuals,
  "dice_weight_1": dice_weight(1.0),
  "dice_weight_6": dice_weight(6.0),
  "head_lr_x1": head_lr_x1,
  "strong_weight_decay": strong_weight_decay,
  "no_contrastive": contrastive_weight(0.0),
  "contrastive_weight_3x": contrastive_weight(0.3),
  "more_photos": more_photos,
  "staged_cutouts": staged_cutouts,
  "resized_crops": resized_crops,
}


def vary_validation(dataset, **knobs):
  """Sets `dataset.validation_synthesis` (a config's `dataset`, in place) to the
  validation forgeries' recipe (the training one where none is pinned) with `knobs`
  changed."""
  validation = copy.deepcopy(dataset.get("validation_synthesis") or dataset.synthesis)
  validation.update(knobs)
  dataset.validation_synthesis = validation


def object_removals(dataset):
  """Validation forgeries that are all removals of objects (as real removals take
  objects away) or untouched, at the usual share: each removal a cut-out's
  silhouette (dilated, up to a quarter of the image, over texture) filled by
  inpainting, a smooth fill reaching the region's inside, or a cloned patch."""
  vary_validation(
    dataset,
    splicing_weight=0,
    copy_move_weight=0,
    removal_weight=1,
    removal_silhouette_probability=1.0,
    smooth_fill_levels=8,
  )


def resized_before_edit(dataset):
  """The validation forgeries, each edited on the resized photo without the JPEG
  save between the resize and the edit (the "camera" save), so that no JPEG grid
  lines up with the edit, as when a photo is resized before it is edited; every
  other draw is the validation's own."""
  vary_validation(dataset, keep_camera_jpeg=False)


def final_jpeg(quality: int):
  """The change of a config's `dataset` to validation forgeries whose files are
  each saved after the edit as a JPEG at `quality` (none as a PNG), as when a photo
  is shared again; every earlier draw is the validation's own."""
  return lambda dataset: vary_validation(
    dataset, final_png_probability=0.0, final_quality=(quality, quality)
  )


def final_half_size(dataset):
  """The validation forgeries, each downscaled to half its size after the edit (the
  synthesis's rescale, always and by 0.5), then saved as the validation's files are
  (a JPEG or a PNG, drawn as there); every draw before the rescale is the
  validation's own."""
  vary_validation(dataset, rescale_probability=1.0, rescale_range=(0.5, 0.5))


def collection(dataset):
  """The arms' own validation forgeries (the 300 of the photo collection's held-out
  sources, photos-v1's recipe) for a run trained on another folder, as the photos
  command trains on a user's (tools/photo_subset.py draws such a folder from the
  collection's training side): the collection, its split and the validation recipe
  of configs/recipe_ab.py, in place of the run's."""
  arms = get_config("baseline").dataset
  dataset.manual_dir = arms.manual_dir
  dataset.options = copy.deepcopy(arms.options)
  dataset.validation_synthesis = copy.deepcopy(arms.validation_synthesis)


# Other validation forgeries to measure a finished run on (tools/recipe_ab.py
# --validation), beside the fixed ones every arm selects its checkpoint on; each
# changes a config's `dataset` in place.
VALIDATIONS = {
  "object_removals": object_removals,
  "resized_before_edit": resized_before_edit,
  **{f"final_jpeg_{quality}": final_jpeg(quality) for quality in (90, 70, 50)},
  "final_half_size": final_half_size,
  "collection": collection,
}


def get_config(arg="baseline"):
  """The config of arm `arg` ("ARM", "ARM,runlocal" or "runlocal": the baseline's)."""
  parts = [part for part in arg.split(",") if part]
  mode = "runlocal" if "runlocal" in parts else ""
  arm = ([part for part in parts if part != "runlocal"] or ["baseline"])[0]
  if arm not in ARMS:
    raise ValueError(f"configs/recipe_ab.py: unknown arm {arm!r}; arms: {', '.join(ARMS)}")
  config = photos_v1.get_config(mode)
  # Every arm's validation forgeries: photos-v1's recipe.
  config.dataset.validation_synthesis = copy.deepcopy(config.dataset.synthesis)
  ARMS[arm](config)
  return config
