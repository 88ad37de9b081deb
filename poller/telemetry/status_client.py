"""`poller status`: each mapping's state, read from a running daemon's GET /mappings.

urllib is imported where it is used: `poller.cli` imports this module for DEFAULT_URL, and
`poller version` / `validate` should not pay for http.client and ssl.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_URL = "http://127.0.0.1:9102"


def fetch(url: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The daemon's mappings; raises OSError (URLError) when it cannot be reached, ValueError
    for a URL that is not http(s)."""
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    with urllib.request.urlopen(  # noqa: S310 - the scheme is checked above
        f"{url.rstrip('/')}/mappings", timeout=timeout
    ) as response:
        body = json.loads(response.read())
    mappings: list[dict[str, Any]] = body["mappings"]
    return mappings


def table(mappings: list[dict[str, Any]]) -> str:
    """A fixed-width table: name, state, last result, in flight, shards or pollers, errors."""
    rows = [("MAPPING", "STATE", "READY", "LAST RESULT", "IN FLIGHT", "SHARDS/POLLERS", "ERRORS")]
    for m in mappings:
        workers = m.get("Shards", m.get("Pollers", 0))
        rows.append(
            (
                str(m["Name"]),
                str(m["State"]),
                "yes" if m["Ready"] else "no",
                str(m["LastProcessingResult"]),
                str(m["InFlight"]),
                str(workers),
                str(m["Errors"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    errors = [f"  {m['Name']}: {m['LastError']}" for m in mappings if m.get("LastError")]
    if errors:
        lines += ["", "last errors:", *errors]
    return "\n".join(line.rstrip() for line in lines)


def run_status(url: str, as_json: bool) -> int:
    """Print the status; exit 0, or 1 when the daemon cannot be reached."""
    import urllib.error

    try:
        mappings = fetch(url)
    except (OSError, ValueError, KeyError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        print(f"poller: cannot read {url}/mappings: {reason}")
        return 1
    print(json.dumps(mappings, indent=2) if as_json else table(mappings))
    return 0
