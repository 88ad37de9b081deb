"""telemetry.control: where the control API's token comes from, and which headers carry it."""

from __future__ import annotations

from pathlib import Path

import pytest

from poller.config.settings import HttpConfig
from poller.errors import StartupError
from poller.telemetry.control import BearerToken, Refusal, read_token

TOKEN = "k7Qv-2mZ_x9.Lw4~Rp+8/A=="
ON = HttpConfig(control=True)


def test_the_token_comes_from_the_environment_variable() -> None:
    assert read_token(ON, {"POLLER_CONTROL_TOKEN": f"  {TOKEN}\n"}, Path()).value == TOKEN


def test_control_token_env_names_another_variable() -> None:
    http = HttpConfig(control=True, control_token_env="OPS_TOKEN")
    env = {"OPS_TOKEN": TOKEN, "POLLER_CONTROL_TOKEN": "x" * 20}
    assert read_token(http, env, Path()).value == TOKEN


def test_the_file_wins_over_the_environment_and_is_relative_to_the_config(
    tmp_path: Path,
) -> None:
    (tmp_path / "token").write_text(f"{TOKEN}\n")
    http = HttpConfig(control=True, control_token_file="token")
    env = {"POLLER_CONTROL_TOKEN": "e" * 20}
    assert read_token(http, env, tmp_path).value == TOKEN


def test_no_token_names_http_control_and_how_to_give_one() -> None:
    with pytest.raises(StartupError) as info:
        read_token(ON, {"POLLER_CONTROL_TOKEN": "   "}, Path())
    message = str(info.value)
    assert message.startswith("http.control: true needs a bearer token")
    assert "POLLER_CONTROL_TOKEN" in message
    assert "http.control_token_file" in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param("", "is empty", id="empty"),
        pytest.param("short-secret", "is 12 characters long; use at least 16", id="too-short"),
        pytest.param("a secret with spaces", "may hold only", id="spaces"),
        pytest.param("s3cr3t\u00e9s3cr3ts3cr3t", "may hold only", id="non-ascii"),
    ],
)
def test_an_unusable_token_file_names_the_field_not_the_token(
    tmp_path: Path, content: str, problem: str
) -> None:
    (tmp_path / "token").write_text(content)
    http = HttpConfig(control=True, control_token_file="token")
    with pytest.raises(StartupError) as info:
        read_token(http, {}, tmp_path)
    message = str(info.value)
    assert message.startswith(f"http.control_token_file: the token in the file {tmp_path}")
    assert problem in message
    if content:
        assert content not in message


def test_a_short_token_in_the_environment_is_refused_without_repeating_it() -> None:
    with pytest.raises(StartupError) as info:
        read_token(ON, {"POLLER_CONTROL_TOKEN": "hunter2"}, Path())
    assert str(info.value) == (
        "http.control: the token in the environment variable POLLER_CONTROL_TOKEN is 7 "
        "characters long; use at least 16"
    )


def test_a_missing_token_file_names_the_field(tmp_path: Path) -> None:
    http = HttpConfig(control=True, control_token_file="nope")
    with pytest.raises(StartupError, match=r"^http\.control_token_file: cannot read .*nope: "):
        read_token(http, {"POLLER_CONTROL_TOKEN": TOKEN}, tmp_path)


def test_a_token_file_that_is_not_text_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "token").write_bytes(b"\xff\xfe" + TOKEN.encode())
    http = HttpConfig(control=True, control_token_file="token")
    with pytest.raises(StartupError, match=r"^http\.control_token_file: .* is not UTF-8 text$"):
        read_token(http, {}, tmp_path)


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        pytest.param(f"Bearer {TOKEN}", None, id="right"),
        pytest.param(f"bearer  {TOKEN} ", None, id="scheme-any-case-spaces-around"),
        pytest.param(None, Refusal.MISSING, id="no-header"),
        pytest.param("", Refusal.MISSING, id="empty"),
        pytest.param("Bearer", Refusal.MISSING, id="no-credentials"),
        pytest.param(f"Basic {TOKEN}", Refusal.MISSING, id="other-scheme"),
        pytest.param(TOKEN, Refusal.MISSING, id="no-scheme"),
        pytest.param("Bearer wrong-token-wrong-token", Refusal.INVALID, id="wrong"),
        pytest.param(f"Bearer {TOKEN[:-1]}", Refusal.INVALID, id="prefix"),
        pytest.param(f"Bearer {TOKEN}x", Refusal.INVALID, id="longer"),
        # hmac.compare_digest raises TypeError for non-ASCII str: bytes are compared instead.
        pytest.param("Bearer s3cr3t\u00e9", Refusal.INVALID, id="non-ascii"),
        pytest.param("Bearer \udcff\udc80", Refusal.INVALID, id="undecodable-bytes"),
    ],
)
def test_check(header: str | None, verdict: Refusal | None) -> None:
    assert BearerToken(TOKEN).check(header) is verdict


def test_the_repr_hides_the_token() -> None:
    assert TOKEN not in repr(BearerToken(TOKEN))
    assert TOKEN not in str(BearerToken(TOKEN))


@pytest.mark.parametrize("name", ["", "1X", "A-B", "a token with spaces"])
def test_control_token_env_must_name_a_variable(name: str) -> None:
    with pytest.raises(ValueError, match="must be the name of an environment variable"):
        HttpConfig(control=True, control_token_env=name)
