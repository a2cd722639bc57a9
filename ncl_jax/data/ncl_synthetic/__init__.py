"""The built-in synthetic benchmark."""

from .ncl_synthetic_dataset_builder import Builder, SyntheticConfig, config_from_options, forgeries

__all__ = ["Builder", "SyntheticConfig", "config_from_options", "forgeries"]
