"""Comptoir's pipeline application: raw contract, loader, generator, CLI and Dagster definitions."""
