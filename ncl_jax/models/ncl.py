"""The NCL network: DeepLabV3+ (ResNet + ASPP + decoder) plus the pivot branches."""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ncl_jax.models import conv as conv_lib
from ncl_jax.models.deeplab import ASPP, Decoder, resize_bilinear
from ncl_jax.models.image_head import PooledImageHead
from ncl_jax.models.patch_features import FEATURE_STRIDE, gather_patches, patch_grid
from ncl_jax.models.pivot import PivotBranch
from ncl_jax.models.residuals import ConstrainedResiduals, srm_residuals
from ncl_jax.models.resnet import ResNet, kaiming_normal, scaled_channels


class NCLModel(nn.Module):
  """Outputs, all float32:

  - `logits`: [batch, H, W, 1], the final full-resolution manipulation logits;
  - `aux_logits`: {"stride16": [batch, H/16, W/16, 1] after ASPP (H/8 at output
    stride 8), "stride4": [batch, H/4, W/4, 1] after the decoder convs: the final
    classifier's logits before upsampling, or with `decoder_aux_head` a 1x1 head of
    its own on the decoder's features};
  - `patch_features`: [batch, H/p, W/p, (p/4)^2 * C1] from the stage-1 map;
  - with an `image_head` ("pooled", "pooled_detached"): `image_logits` [batch], the
    trained image-level decision on the stride-4 map's probabilities
    (models/image_head.py);
  - with `contour_index`/`contour_valid` given: `se_pos`, `se_neg` [batch, d] and
    `se_valid` bool [batch], whether the image has contour patches (the images
    whose pivot terms count; see docs/method.md).
  """

  depth: int = 101
  width: float = 1.0
  output_stride: int = 16
  patch_size: int = 16
  aspp_channels: int = 256
  low_level_channels: int = 48
  decoder_channels: int = 256
  dtype: Any = jnp.float32
  # The reference recipe (docs/method.md); a config saved before these keys
  # existed is read with the values of its time (config_schema.LEGACY_DEFAULTS).
  aspp_dropout: float = 0.5
  decoder_dropouts: Sequence[float] = (0.5, 0.1)
  multi_grid: Sequence[int] = (1, 2, 4)
  zero_init_residual: bool = False
  head_init: str = "fan_in"  # ASPP, decoder and output heads; "fan_out" as the backbone
  conv_impl: str = "auto"  # "auto": XLA:CPU-friendly convolutions on CPU (models/conv.py)
  noise_residuals: bool = False  # the encoder also sees SRM residuals (models/residuals.py)
  constrained_residuals: int = 0  # and this many learned (Bayar) residuals
  decoder_aux_head: bool = False  # the stride-4 auxiliary map from its own head
  image_head: str = "none"  # a trained image-level decision (image_head.py)

  def _head(self, name):
    """A 1x1 conv to one logit channel. Under the old "fan_out" recipe the heads
    kept Flax's default (LeCun normal) initialization."""
    init = kaiming_normal("fan_in") if self.head_init == "fan_in" else nn.linear.default_kernel_init
    return nn.Conv(
      1,
      (1, 1),
      dtype=self.dtype,
      kernel_init=init,
      name=name,
      conv_general_dilated=conv_lib.for_impl(self.conv_impl),
    )

  @nn.compact
  def __call__(
    self,
    images,
    contour_index: jnp.ndarray | None = None,
    contour_valid: jnp.ndarray | None = None,
    train: bool = False,
  ):
    """images [batch, H, W, 3] -> {"logits" [batch, H, W, 1], "aux_logits",
    "patch_features"} (and the pivot outputs when contour patches are given)."""
    inputs = self._encoder_inputs(images)
    stage1, encoded = ResNet(
      self.depth,
      self.width,
      self.output_stride,
      self.dtype,
      tuple(self.multi_grid),
      self.zero_init_residual,
      self.conv_impl,
      name="encoder",
    )(inputs, train)
    rates = tuple(r * 16 // self.output_stride for r in (6, 12, 18))
    aspp = ASPP(
      scaled_channels(self.aspp_channels, self.width),
      rates,
      self.dtype,
      self.aspp_dropout,
      self.head_init,
      self.conv_impl,
      name="aspp",
    )(encoded, train)
    aux_coarse = self._head("aux_head")(aspp)
    decoded = Decoder(
      scaled_channels(self.low_level_channels, self.width),
      scaled_channels(self.decoder_channels, self.width),
      self.dtype,
      tuple(self.decoder_dropouts),
      self.head_init,
      self.conv_impl,
      name="decoder",
    )(aspp, stage1, train)
    logits_stride4 = self._head("classifier")(decoded)
    logits = resize_bilinear(logits_stride4.astype(jnp.float32), images.shape[1:3])
    aux_stride4 = (
      self._head("decoder_aux_head")(decoded) if self.decoder_aux_head else logits_stride4
    )
    patch_features = patch_grid(stage1.astype(jnp.float32), self.patch_size // FEATURE_STRIDE)
    outputs = {
      "logits": logits,
      "aux_logits": {
        f"stride{self.output_stride}": aux_coarse.astype(jnp.float32),
        "stride4": aux_stride4.astype(jnp.float32),
      },
      "patch_features": patch_features,
    }
    if self.image_head != "none":
      probabilities = jax.nn.sigmoid(logits_stride4[..., 0].astype(jnp.float32))
      if self.image_head == "pooled_detached":
        probabilities = jax.lax.stop_gradient(probabilities)
      outputs["image_logits"] = PooledImageHead(name="image_head")(probabilities)
    if contour_index is not None:
      outputs.update(self._pivot_outputs(patch_features, contour_index, contour_valid, train))
    return outputs

  def _encoder_inputs(self, images):
    """images [batch, H, W, 3], with the noise residuals' channels appended when
    the config asks for them."""
    channels = [images]
    if self.noise_residuals:
      channels.append(srm_residuals(images).astype(images.dtype))
    if self.constrained_residuals:
      learned = ConstrainedResiduals(self.constrained_residuals, name="constrained_residuals")
      channels.append(learned(images).astype(images.dtype))
    return jnp.concatenate(channels, axis=-1) if len(channels) > 1 else images

  def _pivot_outputs(self, patch_features, contour_index, contour_valid, train) -> dict:
    """The two pivot branches on the contour patches: {"se_valid" [batch],
    "se_pos", "se_neg"} from patch_features [batch, hp, wp, d] and
    contour_index, contour_valid [batch, n]."""
    contour_features = gather_patches(patch_features, contour_index)
    se_valid = jnp.any(contour_valid, axis=-1)
    outputs = {"se_valid": se_valid}
    for sign in ("pos", "neg"):
      se = PivotBranch(self.dtype, name=f"pivot_{sign}")(
        contour_features, contour_valid, se_valid, train
      )
      outputs[f"se_{sign}"] = se.astype(jnp.float32)
    return outputs
