"""Helpers for testing code that uses taskforge (a fake LLM server)."""
