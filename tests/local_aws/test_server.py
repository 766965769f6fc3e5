"""The server itself: calls counted, connections kept alive."""

from __future__ import annotations

from conftest import client, control


def test_calls_are_counted(url):
    ec2 = client(url, "ec2")
    control(url, "calls/reset", {})
    ec2.describe_images(Owners=["self"])
    ec2.describe_images(Owners=["self"])
    assert control(url, "calls")["ec2:DescribeImages"] == 2


def test_connections_are_kept_alive(url):
    """AWS keeps a connection open from call to call; so does the local AWS, so a client's
    per-call cost is what it would be against AWS (no new TCP connection per call)."""
    import http.client
    import urllib.parse

    where = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    body = "Action=DescribeImages&Version=2016-11-15&Owner.1=self"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
    }
    ports = []
    for _ in range(3):
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200
        assert resp.getheader("Connection", "").lower() != "close"
        ports.append(conn.sock.getsockname()[1])
    assert len(set(ports)) == 1, ports
    conn.close()
