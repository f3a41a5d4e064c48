"""The package version, written here only: pyproject.toml reads it (hatch), and so do the
User-Agent, `cyberdesk_core.__version__` and the Airflow provider metadata."""

__version__ = "0.1.0"
