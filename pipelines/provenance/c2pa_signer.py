"""Signing Atelier's outputs with a C2PA manifest (Content Credentials), with ``c2pa-python``.

The manifest declares the generator (Atelier and its version), a ``c2pa.created`` action with
IPTC's digital source type (``trainedAlgorithmicMedia``, or ``compositeWithTrainedAlgorithmicMedia``
when source images went in), the provenance record as an ``atelier.provenance`` assertion, and,
for swaps and img2img, the source images as ingredients (``parentOf`` / ``componentOf``).

Signing needs a certificate. A user-supplied chain + key (PEM files, setting ``c2pa_cert`` /
``c2pa_key``) is used when given; otherwise one is generated locally once (a self-made CA and a
signer under ``<data>/c2pa/``). A local certificate makes the signature verifiable (the file was
not changed since) but not *trusted*: validators report ``signingCredential.untrusted``, which
Detect shows, because nobody vouches for this machine's CA.
"""

from __future__ import annotations

import datetime
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from PIL import Image

from pipelines.fileio import atomic_write_text
from pipelines.provenance.record import TOOL, ProvenanceRecord

_IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}


@dataclass(frozen=True)
class Credentials:
    """A PEM certificate chain (signer first) and its private key."""

    chain: bytes
    key: bytes


def generate_credentials(owner: str = TOOL) -> Credentials:
    """A new self-issued CA and an ES256 signer under it (what C2PA's validators accept as a
    well-formed, untrusted chain)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{owner} (local, self-issued)")])

    def certificate(subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
                    signing_key: ec.EllipticCurvePrivateKey, ca: bool, days: int) -> x509.Certificate:
        usage = x509.KeyUsage(digital_signature=True, key_cert_sign=ca, crl_sign=ca, content_commitment=False,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False)
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(usage, critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if not ca:
            builder = (builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
                                      critical=False))
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate(f"{owner} local CA", name(f"{owner} local CA"), ca_key, ca_key, True, 3650)
    leaf = certificate(f"{owner} local signer", ca.subject, key, ca_key, False, 730)
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return Credentials(chain, private)


def local_credentials(folder: Path) -> Credentials:
    """This installation's own signer (generated on first use, the key readable by its owner only)."""
    chain_path, key_path = folder / "chain.pem", folder / "signer.key"
    if chain_path.is_file() and key_path.is_file():
        return Credentials(chain_path.read_bytes(), key_path.read_bytes())
    folder.mkdir(parents=True, exist_ok=True)
    made = generate_credentials()
    atomic_write_text(chain_path, made.chain.decode("ascii"))
    atomic_write_text(key_path, made.key.decode("ascii"))
    os.chmod(key_path, 0o600)
    return made


def user_credentials(cert: Path, key: Path) -> Credentials:
    for path in (cert, key):
        if not path.is_file():
            raise ValueError(f"C2PA: {path} not found")
    return Credentials(cert.read_bytes(), key.read_bytes())


def manifest(record: ProvenanceRecord, title: str, ingredients: int) -> dict:
    source_type = "compositeWithTrainedAlgorithmicMedia" if record.sources else "trainedAlgorithmicMedia"
    return {
        "claim_generator_info": [{"name": record.tool, "version": record.version}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": _IPTC + source_type,
                 "softwareAgent": {"name": record.tool, "version": record.version},
                 "parameters": {"operation": record.operation, "sources": ingredients}}]}},
            {"label": "atelier.provenance", "data": json.loads(record.to_json())},
        ],
    }


class C2paSigner:
    """Signs encoded output files; one instance per credential set."""

    def __init__(self, credentials: Credentials) -> None:
        import c2pa

        self._c2pa = c2pa
        self._signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(
            alg=b"es256", sign_cert=credentials.chain, private_key=credentials.key, ta_url=None))

    def sign(self, data: bytes, ext: str, record: ProvenanceRecord, title: str,
             ingredients: Sequence[Image.Image] = ()) -> bytes:
        """``data`` (an encoded PNG / JPEG / WebP) with a signed manifest; ``ingredients`` are
        the source pictures (the first is the parent: the picture that was changed)."""
        mime = MIME[ext]
        builder = self._c2pa.Builder(manifest(record, title, len(ingredients)))
        for index, picture in enumerate(ingredients):
            encoded = io.BytesIO()
            picture.convert("RGB").save(encoded, format="PNG")
            encoded.seek(0)
            relation = "parentOf" if index == 0 else "componentOf"
            builder.add_ingredient({"title": f"source {index + 1}.png", "relationship": relation}, "image/png", encoded)
        out = io.BytesIO()
        builder.sign(self._signer, mime, io.BytesIO(data), out)
        return out.getvalue()


def make_signer(data_dir: Path, cert: Optional[str], key: Optional[str]) -> C2paSigner:
    """The user's certificate when both paths are given, else this installation's local one."""
    if cert and key:
        return C2paSigner(user_credentials(Path(cert), Path(key)))
    return C2paSigner(local_credentials(data_dir / "c2pa"))
