"""TLS material: one CA per state directory, one certificate per device with its address in the SAN.

EC P-256 keys (fast to generate and to handshake). The CA's key and certificate persist in the state
directory (``ca.pem`` is what clients verify against); device certificates are issued at every start and
share one leaf key, which is fine for a simulator and keeps 2,000 devices cheap.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CA_NAME = "panos-upgrade simulator CA"


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class CertificateAuthority:
    """The simulator's CA. ``ca_path`` is the PEM bundle clients pass as their CA file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_path = directory / "ca.pem"
        key_path = directory / "ca.key"
        if self.ca_path.exists() and key_path.exists():
            self._key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            self._cert = x509.load_pem_x509_certificate(self.ca_path.read_bytes())
        else:
            self._key = ec.generate_private_key(ec.SECP256R1())
            now = dt.datetime.now(dt.UTC)
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CA_NAME)])
            self._cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(self._key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
                )
                .sign(self._key, hashes.SHA256())
            )
            _write(
                key_path,
                self._key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
                0o600,
            )
            _write(self.ca_path, self._cert.public_bytes(serialization.Encoding.PEM), 0o644)
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf_key_path = directory / "device.key"
        _write(
            self.leaf_key_path,
            self._leaf_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            0o600,
        )
        self.cert_dir = directory / "certs"
        self.cert_dir.mkdir(exist_ok=True)

    def issue(self, address: str, common_name: str) -> tuple[Path, str]:
        """A certificate for ``address`` (in the SAN as an IP): its file path and PEM text."""
        now = dt.datetime.now(dt.UTC)
        ip = ipaddress.ip_address(address)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._cert.subject)
            .public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())  # type: ignore[arg-type]
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        path = self.cert_dir / f"{address}.pem"
        _write(path, pem, 0o644)
        return path, pem.decode()

    def server_context(self, cert_path: Path) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert_path, self.leaf_key_path)
        return ctx

    def contexts(
        self, devices: Iterable[tuple[str, str]]
    ) -> tuple[dict[str, ssl.SSLContext], dict[str, str]]:
        """Server contexts and certificate PEMs keyed by address, for (address, common name) pairs."""
        contexts: dict[str, ssl.SSLContext] = {}
        pems: dict[str, str] = {}
        for address, cn in devices:
            path, pem = self.issue(address, cn)
            contexts[address] = self.server_context(path)
            pems[address] = pem
        return contexts, pems


def client_context(ca_path: str | Path) -> ssl.SSLContext:
    """A verifying client context for the simulator's CA (what a careful client builds)."""
    return ssl.create_default_context(cafile=str(ca_path))
