"""The generated docs pages and the README's results table are what the committed
JSON gives."""

import numpy as np

from ncl_jax import metrics
from tools import generate_docs


def test_generated_tables_are_current():
  assert generate_docs.stale_pages() == [], "run python tools/generate_docs.py"


def test_auc_standard_error_matches_repeated_draws():
  """Hanley and McNeil's formula is exact where scores are exponential; it must give
  the spread of the image AUC (as evaluation measures it) over many validation sets
  drawn so."""
  rng = np.random.default_rng(0)
  auc, edited, untouched, draws = 0.75, 214, 86, 4000
  # Untouched scores of mean 1, edited of mean auc / (1 - auc): P(edited > untouched) = auc.
  positive = rng.exponential(auc / (1 - auc), (draws, edited))
  negative = rng.exponential(1.0, (draws, untouched))
  labels = np.arange(edited + untouched) < edited
  aucs = np.array(
    [metrics.roc_auc(np.concatenate(draw), labels) for draw in zip(positive, negative)]
  )
  assert abs(aucs.mean() - auc) < 0.002
  expected = generate_docs.auc_standard_error(auc, edited, untouched)
  assert abs(aucs.std() / expected - 1) < 0.05, (aucs.std(), expected)


def test_a_model_card_lists_training_only_photos_only_where_its_config_trained_on_them():
  collection = generate_docs.load(generate_docs.COLLECTION)
  extra = {p["name"] for p in collection["packages"] if p.get("training_only")}
  assert extra, "the collection has a training-only package"
  config = {"dataset": {"options": {}}}
  plain = generate_docs.trained_on(collection, config)
  kept = {e["package"] for e in plain["files"]} | {p["name"] for p in plain["packages"]}
  assert not extra & kept
  assert len(plain["files"]) == sum(e["split"] != "training_only" for e in collection["files"])
  config["dataset"]["options"]["training_only_dirs"] = ["~/ncl_photos/training_only"]
  assert generate_docs.trained_on(collection, config) == collection
