"""Regressions of telemetry.logging.redact: secrets that reached the logs through text it did
not look at."""

from __future__ import annotations

import pytest

from poller.config.loader import parse_config
from poller.errors import ConfigError
from poller.telemetry.logging import REDACTED, redact

PASSWORD = "hunter2hunter2"
BROKEN = f"""\
functions:
  fn:
    handler: "a:b"
    environment:
      DB_PASSWORD: "{PASSWORD}
      OTHER: x
"""


def test_rejected_reload_does_not_log_the_yaml_line_it_quotes() -> None:
    """A YAML error quotes the line it stopped at, and `reload_rejected` logged it in its
    `issues` list, which redact did not look into: a short password went out whole."""
    with pytest.raises(ConfigError) as info:
        parse_config(BROKEN, {}, source="poller.yaml")
    assert any(PASSWORD in issue for issue in info.value.issues)  # the loader's text has it
    event = redact(None, "error", {"event": "reload_rejected", "issues": info.value.issues})
    text = "\n".join(event["issues"])
    assert PASSWORD not in text
    assert "line 5, column" in text  # where to look is kept
    assert REDACTED in text


def test_aws_secrets_in_a_list_of_strings_are_masked() -> None:
    """A handler error's stackTrace is a list of source lines."""
    trace = [
        '  File "h.py", line 3, in handler\n    raise E("aws_secret_access_key=AKIAabc/1+2")\n'
    ]
    event = redact(None, "warning", {"event": "handler_error", "stackTrace": trace})
    assert event["stackTrace"] == [trace[0].replace("AKIAabc/1+2", REDACTED)]


def test_records_are_left_as_they_are() -> None:
    """Records are logged only with log_records, and then as the function saw them."""
    records = [{"body": "aws_secret_access_key=kept"}, "x\n  ^\n"]
    event = redact(None, "info", {"event": "batch_invoked", "records": list(records)})
    assert event["records"] == records


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("mappings[0].batch_size: must be at least 1", id="config-issue"),
        pytest.param("exponent 2^10 overflowed", id="caret-in-a-line"),
    ],
)
def test_ordinary_text_is_untouched(text: str) -> None:
    assert redact(None, "error", {"event": "x", "issues": [text], "error": text}) == {
        "event": "x",
        "issues": [text],
        "error": text,
    }
