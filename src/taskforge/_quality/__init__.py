"""_quality."""
