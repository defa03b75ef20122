"""Verify: prove written files with dbt; hand what failed to a repairer for a bounded number of rounds."""
