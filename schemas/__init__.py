"""Pydantic models and plain values shared by every layer of dangan."""
