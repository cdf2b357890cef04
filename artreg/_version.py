"""artreg's version: one place, read by the package, the CLI and the bundles it writes."""

__version__ = "0.1.0"  # keep equal to pyproject.toml's version
