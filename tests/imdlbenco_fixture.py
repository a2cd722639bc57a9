"""Fixed, tie-free predictions and masks on which IMDL-BenCo's own metric code was
run once (tests/fixtures/make_imdlbenco_expected.py) to give
tests/golden/imdlbenco_expected.json."""

import numpy as np

SIZE = (48, 40)


def fixed_predictions():
  """[(probabilities float32 [H, W], mask uint8 [H, W])]: five manipulated images
  (regions of several sizes, one covering most of the image) and two authentic
  ones; every probability of an image distinct, so no metric depends on ties."""
  rng = np.random.default_rng(2024)
  cases = []
  for index in range(7):
    mask = np.zeros(SIZE, np.uint8)
    if index < 5:
      top, left = rng.integers(0, SIZE[0] // 2), rng.integers(0, SIZE[1] // 2)
      height, width = (8 + 6 * index, 6 + 5 * index) if index < 4 else (44, 36)
      mask[top : top + height, left : left + width] = 1
    # a permutation of distinct values, pushed toward the mask so that the
    # predictions are informative but imperfect
    values = (rng.permutation(SIZE[0] * SIZE[1]).reshape(SIZE) + 0.5) / (SIZE[0] * SIZE[1])
    probabilities = np.clip(0.55 * values + 0.4 * mask * rng.random(SIZE), 0, 1)
    cases.append((probabilities.astype(np.float32), mask))
  return cases
