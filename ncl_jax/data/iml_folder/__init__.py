"""The iml_folder benchmark builder."""

from .iml_folder_dataset_builder import Builder

__all__ = ["Builder"]
