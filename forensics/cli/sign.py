"""`forensics sign IN -o OUT` — add Content Credentials (a C2PA manifest) to an image or video."""
from __future__ import annotations

from typing import List, Optional

import typer

from ..report import IPTC_PREFIX


def source_type_uri(value: str | None) -> str | None:
    """Accept a full IPTC URI or just its term (``trainedAlgorithmicMedia``)."""
    if not value:
        return None
    value = value.strip()
    return value if "://" in value else IPTC_PREFIX + value


def action_name(value: str) -> str:
    value = value.strip()
    return value if "." in value else "c2pa." + value


def register(app: typer.Typer) -> None:
    @app.command("sign")
    def sign(
        src: str = typer.Argument(..., metavar="IN", help="Image or video to sign."),
        out: str = typer.Option(..., "-o", "--out", metavar="OUT", help="Where to write the signed file."),
        cert: Optional[str] = typer.Option(None, "--cert", metavar="PEM",
                                           help="Certificate chain PEM (signing certificate first). "
                                                "Default: the key from `forensics keys init`."),
        key: Optional[str] = typer.Option(None, "--key", metavar="PEM", help="Private key PEM for --cert."),
        alg: str = typer.Option("es256", "--alg", help="Signing algorithm of the key (es256, ps256, ed25519, …)."),
        tsa_url: Optional[str] = typer.Option(None, "--tsa-url", metavar="URL",
                                              help="RFC 3161 timestamp authority (network). Default: none."),
        title: Optional[str] = typer.Option(None, "--title", help="Manifest title."),
        action: List[str] = typer.Option([], "--action", metavar="A",
                                         help="Action to record (repeatable), e.g. c2pa.edited or just 'edited'."),
        digital_source_type: Optional[str] = typer.Option(
            None, "--digital-source-type", metavar="URI",
            help="IPTC digital source type (URI or term, e.g. trainedAlgorithmicMedia, digitalCapture). "
                 "Without it an unsigned input is recorded as 'opened', claiming nothing about its origin."),
        thumbnail: bool = typer.Option(False, "--thumbnail/--no-thumbnail",
                                       help="Embed a thumbnail in the manifest (slower, larger files)."),
        json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ):
        """Add a C2PA manifest. A file that already has credentials becomes the parent ingredient."""
        import json
        from pathlib import Path

        from ..errors import ForensicsError
        from ..provenance.signing import SigningIdentity, sign_file
        from ..textsafe import printable

        if (cert is None) != (key is None):
            raise typer.BadParameter("--cert and --key go together", param_hint="--cert/--key")
        try:
            identity = (SigningIdentity.from_files(cert, key, alg=alg, tsa_url=tsa_url) if cert
                        else SigningIdentity.default())
            if tsa_url and not cert:
                identity.tsa_url = tsa_url
            dst = source_type_uri(digital_source_type)
            actions = [{"action": action_name(a)} for a in action] or None
            if actions and dst and not any(a["action"] in ("c2pa.created", "c2pa.opened") for a in actions):
                actions.insert(0, {"action": "c2pa.created"})
            asset = sign_file(src, out, identity=identity, title=title or Path(src).name, actions=actions,
                              digital_source_type=dst, thumbnail=thumbnail)
        except ForensicsError as exc:
            typer.echo(f"forensics sign: {printable(src)}: error ({exc.code}): {printable(exc.message)}", err=True)
            raise typer.Exit(2)
        except OSError as exc:
            typer.echo(f"forensics sign: {printable(out)}: error (unwritable): {printable(exc.strerror or exc)}",
                       err=True)
            raise typer.Exit(2)
        parent = bool(asset.manifest.get("ingredients"))
        if json_out:
            typer.echo(json.dumps({"path": out, "manifest_id": asset.manifest_id,
                                   "parent_ingredient": parent, "bytes": len(asset.data)}))
        else:
            typer.echo(f"signed {printable(out)}  manifest {printable(asset.manifest_id)}")
