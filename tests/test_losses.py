"""Both losses against a plain NumPy transcription of the formulas in docs/method.md."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ncl_jax.method import losses


def e(a, b, tau):
  return np.exp(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) / tau)


def reference_term(anchors, positives, negatives, tau, skip_same_index=False):
  """mean over (anchor, positive) pairs of -log[e(a,p) / (e(a,p) + sum_n e(a,n))]."""
  values = []
  for m, anchor in enumerate(anchors):
    for j, positive in enumerate(positives):
      if skip_same_index and m == j:
        continue
      numerator = e(anchor, positive, tau)
      denominator = numerator + sum(e(anchor, n, tau) for n in negatives)
      values.append(-np.log(numerator / denominator))
  return float(np.mean(values)) if values else 0.0


def reference_ncl(tampered, tv, authentic, av, se_pos, se_neg, sv, tau, role, step):
  P, N = tampered[tv], authentic[av]
  l_tam = reference_term(P, P, N, tau, skip_same_index=True)
  l_pos = reference_term(se_pos[sv], P, N, tau)
  l_neg = reference_term(se_neg[sv], N, P, tau)
  use_pos = role in ("switch", "positive") or (role == "alternate" and step % 2 == 0)
  use_neg = role in ("switch", "negative") or (role == "alternate" and step % 2 == 1)
  l_pos, l_neg = (l_pos if use_pos else 0.0), (l_neg if use_neg else 0.0)
  return {
    "total": l_tam + l_pos + l_neg,
    "tampered": l_tam,
    "hard_positive": l_pos,
    "hard_negative": l_neg,
  }


def random_inputs(seed, n_t=7, n_a=9, n_img=3, dim=5):
  rng = np.random.default_rng(seed)
  tampered_valid, authentic_valid = rng.random(n_t) < 0.7, rng.random(n_a) < 0.7
  tampered_valid[:2] = authentic_valid[:2] = True  # every term has pairs
  tampered_valid[-1] = authentic_valid[-1] = False  # and masking matters
  return dict(
    tampered=rng.normal(size=(n_t, dim)),
    tampered_valid=tampered_valid,
    authentic=rng.normal(size=(n_a, dim)),
    authentic_valid=authentic_valid,
    se_pos=np.abs(rng.normal(size=(n_img, dim))),
    se_neg=np.abs(rng.normal(size=(n_img, dim))),
    se_valid=np.array([True, False, True][:n_img]),
  )


@pytest.mark.parametrize(
  "role,step",
  [
    ("switch", 0),
    ("alternate", 0),
    ("alternate", 1),
    ("positive", 3),
    ("negative", 3),
    ("drop", 0),
  ],
)
@pytest.mark.parametrize("tau", [0.1, 0.5])
def test_ncl_loss_matches_numpy(role, step, tau):
  inputs = random_inputs(seed=10 * losses.CONTOUR_ROLES.index(role) + step)
  got = losses.ncl_loss(
    **{k: jnp.asarray(v, jnp.float32 if v.dtype != bool else bool) for k, v in inputs.items()},
    temperature=tau,
    contour_role=role,
    step=step,
  )
  expected = reference_ncl(
    inputs["tampered"],
    inputs["tampered_valid"],
    inputs["authentic"],
    inputs["authentic_valid"],
    inputs["se_pos"],
    inputs["se_neg"],
    inputs["se_valid"],
    tau,
    role,
    step,
  )
  for key in expected:
    np.testing.assert_allclose(float(got[key]), expected[key], rtol=2e-5, atol=1e-5, err_msg=key)
  assert expected["tampered"] > 0


def test_ncl_loss_empty_sets_give_zero_and_finite_gradients():
  inputs = random_inputs(seed=5)
  inputs["tampered_valid"][:] = False  # no tampered patch in the batch
  inputs["se_valid"][:] = False  # no contour patch either
  args = {k: jnp.asarray(v) for k, v in inputs.items()}

  def total(tampered, authentic, se_pos, se_neg):
    out = losses.ncl_loss(
      tampered,
      args["tampered_valid"],
      authentic,
      args["authentic_valid"],
      se_pos,
      se_neg,
      args["se_valid"],
      0.1,
    )
    return out["total"], out

  (value, terms), grads = jax.value_and_grad(total, argnums=(0, 1, 2, 3), has_aux=True)(
    args["tampered"], args["authentic"], args["se_pos"], args["se_neg"]
  )
  assert float(value) == 0.0 and all(float(v) == 0.0 for v in terms.values())
  assert all(np.isfinite(np.asarray(g)).all() for g in grads)


def test_ncl_loss_without_negatives_is_zero_not_nan():
  inputs = random_inputs(seed=6)
  inputs["authentic_valid"][:] = False  # -log(e/e) = 0 for every pair
  got = losses.ncl_loss(**{k: jnp.asarray(v) for k, v in inputs.items()}, temperature=0.1)
  assert abs(float(got["tampered"])) < 1e-6 and np.isfinite(float(got["total"]))


def test_ncl_loss_rejects_unknown_role():
  with pytest.raises(ValueError, match="contour_role"):
    losses.ncl_loss(
      **{k: jnp.asarray(v) for k, v in random_inputs(0).items()},
      temperature=0.1,
      contour_role="both",
    )


def reference_pc(logits, target, contour, mu):
  bce = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
  contour_mean = bce[contour].mean() if contour.any() else 0.0
  other_mean = bce[~contour].mean() if (~contour).any() else 0.0
  return mu * contour_mean + (1 - mu) * other_mean


@pytest.mark.parametrize("mu", [0.0, 0.7, 1.0])
def test_pivot_consistent_loss_matches_numpy(mu):
  rng = np.random.default_rng(2)
  logits = rng.normal(size=(2, 8, 8, 1)) * 3
  mask = (rng.random((2, 8, 8)) < 0.4).astype(np.float32)
  contour = rng.random((2, 8, 8)) < 0.3
  got = losses.pivot_consistent_loss(
    jnp.asarray(logits), jnp.asarray(mask[..., None]), jnp.asarray(contour), mu
  )
  np.testing.assert_allclose(float(got), reference_pc(logits[..., 0], mask, contour, mu), rtol=1e-5)


def test_pivot_consistent_loss_at_a_coarser_stage():
  """A stride-4 map sees the area fraction as target; a stage pixel is contour if any
  of its input pixels is."""
  rng = np.random.default_rng(3)
  logits = rng.normal(size=(1, 4, 4))
  mask = (rng.random((1, 16, 16)) < 0.5).astype(np.float32)
  contour = np.zeros((1, 16, 16), bool)
  contour[0, 0, 5] = True  # one input pixel -> stage pixel (0, 1)
  target = mask.reshape(1, 4, 4, 4, 4).mean(axis=(2, 4))
  stage_contour = np.zeros((1, 4, 4), bool)
  stage_contour[0, 0, 1] = True
  got = losses.pivot_consistent_loss(
    jnp.asarray(logits), jnp.asarray(mask), jnp.asarray(contour), 0.7
  )
  np.testing.assert_allclose(
    float(got), reference_pc(logits, target, stage_contour, 0.7), rtol=1e-5
  )


def test_pivot_consistent_loss_without_contour_pixels():
  logits, mask = jnp.zeros((1, 4, 4)), jnp.zeros((1, 4, 4))
  got = losses.pivot_consistent_loss(logits, mask, jnp.zeros((1, 4, 4), bool), 0.7)
  np.testing.assert_allclose(float(got), 0.3 * np.log(2), rtol=1e-6)


def reference_dice(logits, target, smooth=1.0):
  probability = 1 / (1 + np.exp(-logits))
  overlap = (probability * target).sum(axis=(1, 2))
  total = probability.sum(axis=(1, 2)) + target.sum(axis=(1, 2))
  return np.mean(1 - (2 * overlap + smooth) / (total + smooth))


def test_dice_loss_matches_numpy_per_image_at_the_maps_size():
  rng = np.random.default_rng(4)
  logits = rng.normal(size=(3, 4, 4, 1)) * 2
  mask = (rng.random((3, 8, 8)) < 0.4).astype(np.float32)
  mask[2] = 0  # an untouched image
  target = mask.reshape(3, 4, 2, 4, 2).mean(axis=(2, 4))
  got = losses.dice_loss(jnp.asarray(logits), jnp.asarray(mask))
  np.testing.assert_allclose(float(got), reference_dice(logits[..., 0], target), rtol=1e-5)


def test_dice_loss_is_zero_for_a_perfect_prediction_and_pushes_untouched_images_down():
  mask = np.zeros((2, 8, 8), np.float32)
  mask[0, 2:5, 3:6] = 1
  perfect = jnp.asarray(np.where(mask > 0, 30.0, -30.0))
  assert float(losses.dice_loss(perfect, jnp.asarray(mask))) < 1e-6
  gradient = jax.grad(losses.dice_loss)(jnp.zeros((2, 8, 8)), jnp.asarray(mask))
  assert np.all(np.asarray(gradient[1]) > 0)  # untouched: every logit goes down
  assert np.all(np.asarray(gradient[0])[mask[0] > 0] < 0)  # edited pixels go up


def test_top_pixels_bce_matches_numpy_and_pushes_only_the_top_of_untouched_maps_down():
  rng = np.random.default_rng(5)
  logits = rng.normal(size=(3, 20, 20, 1)) * 2
  mask = np.zeros((3, 40, 40), np.float32)
  mask[0, 8:18, 4:14] = 1  # images 1 and 2 untouched
  top = np.sort(1 / (1 + np.exp(-logits.reshape(3, -1))), axis=1)[:, ::-1][:, :4].mean(axis=1)
  edited = np.array([1.0, 0.0, 0.0])
  want = -np.mean(edited * np.log(top) + (1 - edited) * np.log(1 - top))
  got = losses.top_pixels_bce(jnp.asarray(logits), jnp.asarray(mask))  # 1% of 400 pixels: 4
  np.testing.assert_allclose(float(got), want, rtol=1e-5)
  gradient = np.asarray(jax.grad(losses.top_pixels_bce)(jnp.asarray(logits), jnp.asarray(mask)))
  assert np.count_nonzero(gradient[1]) == 4 and gradient[1].min() >= 0  # its top 4 go down
  assert gradient[0].min() < 0  # an edited image's top pixels go up
