"""cartridge: plan, write and prove the dbt models for new raw warehouse tables."""

__version__ = "0.1.0"
