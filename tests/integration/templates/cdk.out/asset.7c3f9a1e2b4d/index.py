"""The CDK-shaped template's asset (`index.handler`): itest_handlers' recorder."""

from itest_handlers import handler

__all__ = ["handler"]
