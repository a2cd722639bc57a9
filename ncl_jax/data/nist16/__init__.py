"""The nist16 benchmark builder."""

from .nist16_dataset_builder import Builder

__all__ = ["Builder"]
