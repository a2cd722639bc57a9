"""The coverage benchmark builder."""

from .coverage_dataset_builder import Builder

__all__ = ["Builder"]
