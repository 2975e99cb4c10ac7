"""The SSRF guard (hitl.outbound): private, loopback, link-local, unique-local and metadata addresses
are refused at submit and when sending, unless HITL_OUTBOUND_ALLOW lets them through; the request
goes to the address that was checked, with the host name kept (Host, TLS SNI and certificate
check), and follows no redirect."""

import socket
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hitl import outbound
from hitl.models import Action
from tests.conftest import submit_body

REFUSED = [
    ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
    ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://[::1]/hook", "::1 is a loopback address"),
    ("http://[fd12:3456::1]/hook", "fd12:3456::1 is a unique-local address"),
    ("http://[::ffff:10.0.0.1]/hook", "::ffff:10.0.0.1 is a private address"),
    ("http://0.0.0.0/hook", "0.0.0.0 is an unspecified address"),
    ("http://localhost/hook", "localhost resolves to "),  # 127.0.0.1 or ::1, as the machine's hosts file says
    ("ftp://agent.example.com/hook", "Must be an http or https URL."),
]


@pytest.fixture
def nothing_allowed(settings):
    settings.HITL_OUTBOUND_ALLOW = ""


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_check_url_refuses_what_is_not_public(nothing_allowed, url, reason):
    assert outbound.check_url(url).startswith(reason)


def test_a_public_address_passes_and_the_allow_list_lets_loopback_through(settings):
    settings.HITL_OUTBOUND_ALLOW = ""
    assert outbound.check_url("https://93.184.215.14/hook") is None
    settings.HITL_OUTBOUND_ALLOW = "127.0.0.0/8,::1/128"
    assert outbound.check_url("http://127.0.0.1:8080/hook") is None
    assert outbound.check_url("http://[::1]/hook") is None
    assert outbound.check_url("http://10.0.0.1/hook").startswith("10.0.0.1 is a private address")


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_submit_refuses_such_a_callback_url_naming_the_field_and_stores_nothing(api, nothing_allowed, url, reason):
    response = api.post("/api/v1/actions", submit_body(callback_url=url), format="json")
    assert response.status_code == 400
    [said] = response.json()["fields"]["callback_url"]
    assert said.startswith(reason)
    assert Action.objects.count() == 0


class Recorder:
    """A loopback HTTP server that records each request's Host header and answers `status` (with a
    Location header, for redirects)."""

    def __init__(self, host="127.0.0.1", status=200):
        self.hosts = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.hosts.append(self.headers["Host"])
                self.send_response(status)
                self.send_header("Location", f"http://{host}:{self.server.server_port}/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rebinding_dns(monkeypatch):
    """A name whose DNS answer changes after the first lookup, as in a DNS rebinding attack:
    127.0.0.2 (allowed) first, then 10.0.0.1. Other names resolve as usual. Returns the lookups."""
    real, lookups = socket.getaddrinfo, []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "hooks.rebind.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.2" if len(lookups) == 1 else "10.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_the_request_goes_to_the_address_checked_with_the_host_name_kept(rebinding_dns):
    recorder = Recorder(host="127.0.0.2")
    try:
        answer = outbound.post(f"http://hooks.rebind.test:{recorder.port}/hook", body=b"{}", headers={})
    finally:
        recorder.close()
    assert answer.status_code == 200 and answer.content == b"ok"
    assert recorder.hosts == [f"hooks.rebind.test:{recorder.port}"]
    assert rebinding_dns == ["hooks.rebind.test"]  # one lookup: the one that was checked


def test_a_name_resolving_to_a_refused_address_is_not_called(rebinding_dns, settings):
    settings.HITL_OUTBOUND_ALLOW = ""
    with pytest.raises(outbound.Refused, match="hooks.rebind.test resolves to 127.0.0.2, a loopback address"):
        outbound.post("http://hooks.rebind.test/hook", body=b"{}", headers={})


def test_no_redirect_is_followed():
    recorder = Recorder(status=302)
    try:
        answer = outbound.post(f"http://127.0.0.1:{recorder.port}/hook", body=b"{}", headers={})
    finally:
        recorder.close()
    assert answer.status_code == 302 and len(recorder.hosts) == 1


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_timeout():
    """Each read gets a byte in time, so only a deadline over the whole exchange stops it."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 1000:
                if stop.wait(0.1):
                    return
                connection.sendall(bytes([byte]))

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(httpx.TimeoutException, match="No complete answer within 1 s"):
            outbound.post(f"http://127.0.0.1:{listener.getsockname()[1]}/hook", body=b"{}", headers={}, timeout=1)
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 2


def test_a_bad_allow_list_entry_is_named():
    with pytest.raises(ValueError, match="HITL_OUTBOUND_ALLOW: 'intranet' is not a network"):
        outbound.allowed_networks("127.0.0.0/8, intranet")


def self_signed(tmp_path, name: str):
    """A certificate for `name` that no CA signed, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_tls_goes_to_the_checked_address_with_the_host_name_as_sni_and_checks_the_certificate(rebinding_dns, tmp_path):
    """The server at the checked address is asked for hooks.rebind.test (SNI), and its certificate,
    which no trusted CA signed, is refused: the guard never turns verification off."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(tmp_path, "hooks.rebind.test"))
    asked = []
    context.sni_callback = lambda sock, name, ctx: asked.append(name)
    recorder = Recorder(host="127.0.0.2")
    recorder.server.socket = context.wrap_socket(recorder.server.socket, server_side=True)
    try:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            outbound.post(f"https://hooks.rebind.test:{recorder.port}/hook", body=b"{}", headers={})
    finally:
        recorder.close()
    assert asked == ["hooks.rebind.test"] and recorder.hosts == []
    assert rebinding_dns == ["hooks.rebind.test"]
