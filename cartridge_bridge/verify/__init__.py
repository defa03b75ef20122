"""Verify: prove written files with dbt and repair what fails on today's data."""
