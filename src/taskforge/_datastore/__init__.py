"""_datastore."""
