"""_retrieval."""
