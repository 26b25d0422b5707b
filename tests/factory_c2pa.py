"""A C2PA-signed PNG for tests, as another tool would make it: a throwaway CA and signer.

The signature validates; the certificate is (rightly) untrusted, as no trust list is given.
"""

from __future__ import annotations

import io

from PIL import Image

AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def signed_png(image: Image.Image, generator: str = "test-generator") -> bytes:
    """``image`` as a PNG carrying a signed C2PA manifest that declares it AI-generated."""
    import c2pa

    from pipelines.provenance.c2pa_signer import generate_credentials

    made = generate_credentials("Atelier tests")
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=b"es256", sign_cert=made.chain, private_key=made.key,
                                                       ta_url=None))
    manifest = {"claim_generator_info": [{"name": generator, "version": "1.0"}], "title": "signed.png",
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": AI_SOURCE}]}}]}
    source, out = io.BytesIO(), io.BytesIO()
    image.save(source, format="PNG")
    source.seek(0)
    c2pa.Builder(manifest).sign(signer, "image/png", source, out)
    return out.getvalue()
