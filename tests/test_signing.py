"""docs/ivh-api.md §1: both vendor test vectors, and full percent-encoding."""

import pytest

from monitor.signing import sign, signed_query, signing_string

TOKEN = "example_accesstoken"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"appkey": "example_appkey", "timestamp": "1717639699"},
            "aCNWYzZdplxWVo%2BJsqzZc9%2BJ9XrwWWITfX3eQpsLVno%3D",
        ),
        (
            {
                "timestamp": "1717639699",
                "requestid": "example_requestid",
                "appkey": "example_appkey",
            },
            "QVenICk0VHtHGYZKXM6IC%2BW1CjZC1joSr%2Fx0gfKKYT4%3D",
        ),
    ],
)
def test_vendor_vectors(params: dict[str, str], expected: str) -> None:
    assert sign(params, TOKEN) == expected


def test_slash_is_sent_as_percent_2f() -> None:
    sig = sign(
        {"appkey": "example_appkey", "requestid": "example_requestid", "timestamp": "1717639699"},
        TOKEN,
    )
    assert "%2F" in sig
    assert "/" not in sig
    assert "+" not in sig
    assert "=" not in sig


def test_signing_string_sorts_and_skips_signature() -> None:
    assert signing_string({"timestamp": "1", "signature": "x", "appkey": "a"}) == (
        "appkey=a&timestamp=1"
    )


def test_signed_query_carries_appkey_timestamp_and_signature_only() -> None:
    query = signed_query("example_appkey", TOKEN, 1717639699)
    assert query == (
        "appkey=example_appkey&timestamp=1717639699"
        "&signature=aCNWYzZdplxWVo%2BJsqzZc9%2BJ9XrwWWITfX3eQpsLVno%3D"
    )
    assert TOKEN not in query
