"""The defacto benchmark builder."""

from .defacto_dataset_builder import Builder

__all__ = ["Builder"]
