r"""The recipe's A/B arms: configs/photos_v1.py with one change each, all validated
on the same forgeries (photos-v1's recipe on the sources it holds out).

  python -m ncl_jax.main --config=configs/recipe_ab.py:ARM --workdir=runs/ab/ARM
  python -m ncl_jax.main --config=configs/recipe_ab.py:ARM,runlocal ...   # a smoke run

ARM is one of ARMS. The table of what each arm changed on validation is in
docs/recipe.md.
"""

import copy

from configs import photos_v1


def real_removals(config):
  """Half the removals take a cut-out's silhouette (dilated, up to a quarter of
  the image, over texture), and the smooth fill reaches a region's inside."""
  config.dataset.synthesis.removal_silhouette_probability = 0.5
  config.dataset.synthesis.smooth_fill_levels = 8


ARMS = {
  "baseline": lambda config: None,
  "real_removals": real_removals,
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
