"""Reproductions of published experiments, each one command (``python -m prefopt.experiments.<name>``)."""
