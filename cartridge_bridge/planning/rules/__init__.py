"""The deterministic rules planner: dbt Labs' structure from the raw tables' keys, no LLM."""
