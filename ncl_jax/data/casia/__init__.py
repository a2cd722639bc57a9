"""The casia benchmark builder."""

from .casia_dataset_builder import Builder

__all__ = ["Builder"]
