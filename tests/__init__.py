"""Tests, fixtures and the synthetic scan generator (tests/synth)."""
