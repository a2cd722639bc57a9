"""ncl_jax: NCL (ICCV 2023) image manipulation localization in JAX/Flax."""

__version__ = "0.1.0"
