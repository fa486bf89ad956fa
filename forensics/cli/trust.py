"""`forensics trust …` — the trust lists verification accepts: list, add, remove, update."""
from __future__ import annotations

from typing import List

import typer

trust_app = typer.Typer(help="Trust lists: the official C2PA list, the interim list, the TSA list and your "
                             "local anchors.", no_args_is_help=True)


MAX_PEM_BYTES = 4 * 1024 * 1024


def register(app: typer.Typer) -> None:
    app.add_typer(trust_app, name="trust")


def _fail(cmd: str, code: str, message: str) -> None:
    from .render import safe

    typer.echo(f"forensics trust {cmd}: error ({code}): {safe(message)}", err=True)
    raise typer.Exit(2)


@trust_app.command("list")
def list_cmd(
    json_out: bool = typer.Option(False, "--json", help="Print {\"lists\": […], \"certificates\": […]} as JSON."),
    trust_anchors: List[str] = typer.Option([], "--trust-anchors", metavar="PEM",
                                            help="Also list these anchor bundles (as verify --trust-anchors would)."),
):
    """Every certificate verification accepts: subject, organisation, list, SHA-256, validity, and each
    list's snapshot issue and next-update dates (a list past its next update is marked stale).

    Exit codes: 0 listed, 2 an anchor file is missing or not PEM.
    """
    import json

    from ..config import trust_anchor_paths
    from ..errors import ForensicsError
    from ..provenance import trustlists

    try:
        paths = trust_anchor_paths(trust_anchors)
        lists = trustlists.all_lists(paths)
        certs = trustlists.entries(paths)
    except ForensicsError as exc:
        _fail("list", exc.code, exc.message)
    summaries = [trustlists.list_summary(tl) for tl in lists]
    if json_out:
        typer.echo(json.dumps({"lists": summaries, "certificates": certs}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .render import T

    console = Console(highlight=False)
    lt = Table(title="Trust lists", title_justify="left")
    for col in ("list", "origin", "issued", "next update", "certificates", "licence"):
        lt.add_column(col, overflow="fold")
    for s in summaries:
        nu = Text(s["next_update"] or (f"frozen {s['frozen']}" if s["frozen"] else "—"))
        if s["stale"]:
            nu.append("  STALE: run `forensics trust update --allow-network`", style="bold red")
        count = f"{s['anchors']} anchors" + (f" + {s['allowed']} allowed" if s["allowed"] else "")
        lt.add_row(T(s["name"]), T(s["origin"]), T(s["issued"] or "—"), nu, Text(count), T(s["licence"] or "—"))
    console.print(lt)
    ct = Table(title="Certificates", title_justify="left")
    for col in ("list", "subject", "organisation", "sha256", "valid"):
        ct.add_column(col, overflow="fold")
    for c in certs:
        name = c["list"] + ("" if c["role"] == "anchor" else f" ({c['role']})")
        ct.add_row(T(name), T(c["common_name"] or c["subject"]), T(c["organization"] or "—"),
                   T(c["sha256"], "dim"), T(f"{c['not_before'][:10]} → {c['not_after'][:10]}"))
    console.print(ct)


@trust_app.command("add")
def add_cmd(pem: str = typer.Argument(..., metavar="PEM", help="A PEM file with one or more CA certificates.")):
    """Add the certificates of PEM to your local anchors ($FORENSICS_HOME/trust/anchors.pem).

    Exit codes: 0 added, 2 the file is missing or not PEM.
    """
    from pathlib import Path

    from ..errors import ForensicsError
    from ..provenance import trustlists

    try:
        p = Path(pem).expanduser()
        if not p.is_file():  # regular files only: not a FIFO, a device or a directory
            _fail("add", "not_found", f"{pem}: no such regular file")
        if p.stat().st_size > MAX_PEM_BYTES:
            _fail("add", "too_large", f"{pem}: larger than {MAX_PEM_BYTES} bytes, not an anchor file")
        with p.open("rb") as fh:
            data = fh.read(MAX_PEM_BYTES + 1)
        added = trustlists.add_local(data)
    except ForensicsError as exc:
        _fail("add", exc.code, f"{pem}: {exc.message}")
    except OSError as exc:
        _fail("add", "unreadable", f"{pem}: {exc.strerror}")
    for h in added:
        typer.echo(f"added local anchor {h}")


@trust_app.command("remove")
def remove_cmd(sha256: str = typer.Argument(..., metavar="SHA256",
                                            help="The anchor's SHA-256 as `forensics trust list` shows it.")):
    """Remove a local anchor by its SHA-256. The shipped lists cannot be edited here.

    Exit codes: 0 removed, 2 no local anchor has that SHA-256 (or it is not 64 hex digits).
    """
    from ..errors import ForensicsError
    from ..provenance import trustlists

    try:
        n = trustlists.remove_local(sha256)
    except ForensicsError as exc:
        _fail("remove", exc.code, exc.message)
    if n == 0:
        _fail("remove", "not_found", f"no local anchor with SHA-256 {sha256}")
    typer.echo(f"removed {n} local anchor(s)")


@trust_app.command("update")
def update_cmd(
    allow_network: bool = typer.Option(False, "--allow-network", help="Required: the update downloads the lists."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
):
    """Fetch the current official C2PA trust list and TSA list, check that they parse, and install them in
    $FORENSICS_HOME/trust/lists. On any failure the lists in force stay (the shipped snapshot by default).

    Exit codes: 0 updated, 2 not updated (no --allow-network, network or parse failure).
    """
    import json

    from ..provenance import trustlists

    res = trustlists.update(allow_network=allow_network)
    if json_out:
        typer.echo(json.dumps({"updated": res.ok, "message": res.message, "lists": res.lists}))
    elif res.ok:
        for s in res.lists:
            typer.echo(f"{s['name']}: {s['certificates']} certificates, issued {s['issued']}, "
                       f"next update {s['next_update']}")
    if not res.ok:
        if not json_out:
            typer.echo(f"forensics trust update: {res.message}", err=True)
        raise typer.Exit(2)
