"""Gather: read dbt's manifest and the warehouse facts the cartridge package prints."""
