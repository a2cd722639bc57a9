"""The imd2020 benchmark builder."""

from .imd2020_dataset_builder import Builder

__all__ = ["Builder"]
