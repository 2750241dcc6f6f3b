"""Settings plumbing shared by every role: YAML + environment loading, secrets, error reports.

Kept import-light on purpose: ``edge.settings`` and ``cloud.settings`` import the building blocks
from here, and the loader imports nothing role-specific.
"""

from lineinspect.config.errors import ConfigError, ConfigIssue

__all__ = ["ConfigError", "ConfigIssue"]
