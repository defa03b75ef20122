"""Gather: run dbt, read its manifest, and read the warehouse facts the cartridge package prints."""
