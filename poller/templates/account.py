"""The AWS account a template's ARNs name: asked of STS where poller points, once."""

from __future__ import annotations

from poller.templates.errors import TemplateError


def caller_account(endpoint_url: str | None, region: str, profile: str | None = None) -> str:
    """GetCallerIdentity's account for the credentials poller uses (LocalStack answers
    000000000000 for most keys, moto 123456789012). TemplateError, naming `--account-id`, when
    STS cannot be reached."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1})
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
        sts = session.client("sts", endpoint_url=endpoint_url, config=config)
        return str(sts.get_caller_identity()["Account"])
    except Exception as exc:  # no credentials, endpoint down, access denied: all the same here
        where = endpoint_url or f"AWS ({region})"
        raise TemplateError(
            "AWS::AccountId",
            f"the template's ARNs need the account, and STS at {where} did not say: {exc} "
            "(give --account-id)",
        ) from exc
