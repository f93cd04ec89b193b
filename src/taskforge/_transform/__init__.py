"""_transform."""
