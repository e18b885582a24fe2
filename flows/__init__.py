"""Prefect flows and the dangan command line (the only package that imports Prefect)."""
