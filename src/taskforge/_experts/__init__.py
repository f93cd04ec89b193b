"""_experts."""
