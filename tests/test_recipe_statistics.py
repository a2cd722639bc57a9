"""The recipe makes what it made at 9da7ebd: forgeries measured as a user's files
(kinds, formats, sizes, mask areas, JPEG quantization, chroma subsampling,
high-pass residual inside and outside the mask, and on a probe the shift of the
final JPEG's grid from the camera's) match, test by test, 1,500 examples that
commit synthesized from the same photos and knobs
(`tests/golden/recipe_statistics_9da7ebd.json`, written by tools/recipe_statistics.py
run on that commit). Faster synthesis may not change what the recipe means."""

import json
import pathlib

from configs import photos
from tools import recipe_statistics

GOLDEN = pathlib.Path(__file__).parent / "golden" / "recipe_statistics_9da7ebd.json"
EXAMPLES = 300


def golden_config(**changes):
  """configs/photos.py with the recorded synthesis knobs (bundled photos), then `changes`."""
  golden = json.loads(GOLDEN.read_text())
  config = photos.get_config()
  for knob, value in {**golden["synthesis"], **changes}.items():
    config.dataset.synthesis[knob] = tuple(value) if isinstance(value, list) else value
  return config, golden


def p_values(config, golden) -> dict:
  """{(measure, group): p-value} of EXAMPLES examples of `config` against the golden's."""
  rows = recipe_statistics.record_statistics(config, EXAMPLES)
  grid = recipe_statistics.grid_statistics(config, EXAMPLES)
  reference_grid = [{"grid_phase": phase} for phase in golden["grid_phases"]]
  tests = recipe_statistics.compare(rows, golden["examples"], grid, reference_grid)
  return {(measure, group): p for measure, group, p in tests}


def test_the_recipe_makes_what_it_made_at_9da7ebd():
  config, golden = golden_config()
  assert golden["commit"].startswith("9da7ebd") and len(golden["examples"]) >= 1000
  tested = p_values(config, golden)
  measures = recipe_statistics.CONTINUOUS + recipe_statistics.CATEGORICAL + ("grid_phase",)
  assert {measure for measure, _ in tested} == set(measures)
  assert len(tested) > 30  # the continuous measures per kind, too
  failed = {key: p for key, p in tested.items() if p < 1e-3}
  assert not failed, failed


def test_the_comparison_sees_a_changed_recipe():
  """Final JPEGs saved without the grid shift, and at higher qualities, fail; the
  kinds, unchanged, pass."""
  config, golden = golden_config(grid_shift_probability=0.0, final_quality=(90, 98))
  tested = p_values(config, golden)
  assert tested[("grid_phase", "all")] < 1e-6
  assert tested[("luma_quant", "all")] < 1e-6
  assert tested[("kind", "all")] > 1e-3
