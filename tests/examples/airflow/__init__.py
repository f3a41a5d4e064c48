"""Tests of the example pipelines (a package, so its conftest modules get unique names)."""
