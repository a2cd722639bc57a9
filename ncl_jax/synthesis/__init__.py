"""Forgery synthesis from collections of authentic photos (docs/synthesis.md)."""

from ncl_jax.synthesis.dataset import PhotoForgeries
from ncl_jax.synthesis.photos import (
  BundledPhotos,
  FolderPhotos,
  Photo,
  PhotoCache,
  PhotoError,
  TfdsPhotos,
)
from ncl_jax.synthesis.recipe import KINDS, Forgery, SynthesisConfig, synthesize
from ncl_jax.synthesis.stream import ENDLESS, ForgerySource

__all__ = [
  "PhotoForgeries",
  "BundledPhotos",
  "FolderPhotos",
  "Photo",
  "PhotoCache",
  "PhotoError",
  "TfdsPhotos",
  "KINDS",
  "Forgery",
  "SynthesisConfig",
  "synthesize",
  "ENDLESS",
  "ForgerySource",
]
