"""Config files: `--config=configs/NAME.py`, each defining get_config()."""
