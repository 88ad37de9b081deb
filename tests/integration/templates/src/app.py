"""The handler the test templates name (`app.handler`): itest_handlers' recorder, so a test
compares what a template's run and a hand-written config's run delivered."""

from itest_handlers import handler

__all__ = ["handler"]
