"""The columbia benchmark builder."""

from .columbia_dataset_builder import Builder

__all__ = ["Builder"]
