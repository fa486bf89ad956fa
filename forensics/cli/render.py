"""The terminal report of `forensics verify`: one rich panel per file.

Every string that comes from a file (manifest titles, signer names, EXIF, prompts…) goes through
:func:`safe` (:func:`forensics.textsafe.printable`) and into a ``rich.text.Text``: markup in it prints
literally, control, bidi, zero-width and line-separator characters (ANSI escape sequences included) are shown
escaped, and very long values are shortened. Imported only when printing.
"""
from __future__ import annotations

from typing import Iterable

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..provenance.signals import GENAI_SIGNALS
from ..report import (CredentialsFinding, DetectorFinding, FramesFinding, MetadataFinding, Report,
                      WatermarkFinding, is_ai_source_type)
from ..textsafe import printable

TRUST_LIST_LABELS = {
    "c2pa": "C2PA trust list",
    "interim": "interim trust list (signed under the interim trust list, frozen 2026-01-01)",
    "local": "local trust anchor (yours: keys init, --trust-anchors, $FORENSICS_TRUST_ANCHORS)",
}

LABEL_STYLES = {
    "ai-generated": "bold white on red",
    "likely-synthetic": "bold black on dark_orange",
    "tampered": "bold white on dark_red",
    "authentic-credentials": "bold black on green",
    "no-evidence": "bold white on grey37",
    "error": "bold white on red",
}
STATE_STYLES = {"Trusted": "bold green", "Valid": "yellow", "Invalid": "bold red"}
MAX_CELL = 300


def safe(value, limit: int = MAX_CELL) -> str:
    """A file-derived value as printable text (:func:`forensics.textsafe.printable`), long values shortened."""
    return printable(value, limit)


def T(value, style: str = "", limit: int = MAX_CELL) -> Text:
    return Text(safe(value, limit), style=style)


def _short_dst(uri: str | None) -> str:
    return (uri or "").rstrip("/").rsplit("/", 1)[-1]


def _kv_table() -> Table:
    t = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    return t


def _dst_text(uri: str | None) -> Text:
    if not uri:
        return Text("—", style="dim")
    t = T(_short_dst(uri), "bold red" if is_ai_source_type(uri) else "")
    if is_ai_source_type(uri):
        t.append("  (AI / algorithmic)", style="red")
    return t


def render_credentials(c: CredentialsFinding) -> Group:
    parts = []
    t = _kv_table()
    if not c.present:
        t.add_row("Content Credentials", Text("none found", style="dim"))
        for s in c.statuses:
            t.add_row("", T(s.explanation, "dim"))
        return Group(t)
    state = Text(c.state or "not validated", style=STATE_STYLES.get(c.state or "", "yellow"))
    if c.state == "Valid":
        state.append("  (intact, but the signer is not on a trust list you accept)", style="dim")
    t.add_row("State", state)
    if c.recovered_from:
        t.add_row("Recovered from", T(f"{c.recovered_from} (the file itself carries no credentials)", "cyan"))
    if c.state == "Trusted" or c.trust_list:
        t.add_row("Trust list", Text(TRUST_LIST_LABELS.get(c.trust_list or "", "trusted (list not reported)"),
                                     style="bold yellow" if c.trust_list == "interim" else "green"))
    if c.signer:
        who = " / ".join(x for x in (c.signer.organization, c.signer.common_name) if x) or "unknown"
        signer = T(who)
        if c.signer.country:
            signer.append(f"  ({safe(c.signer.country, 8)})")
        if c.signer.issuer:
            signer.append(f"  issued by {safe(c.signer.issuer)}", style="dim")
        t.add_row("Signer", signer)
        if c.signer.not_before or c.signer.not_after:
            t.add_row("Certificate", T(f"valid {c.signer.not_before or '?'} → {c.signer.not_after or '?'}", "dim"))
        for link in c.signer.chain[1:]:
            t.add_row("  chain", T(f"{link.get('subject')} (from the {link.get('source')})", "dim"))
    for ident in c.identities:
        actor = ident.get("named_actor") or {}
        who = " / ".join(x for x in (actor.get("organization"), actor.get("common_name")) if x)
        line = T(who or "identity assertion")
        line.append(f"  {safe(ident.get('sig_type') or '', 60)}", style="dim")
        for vi in ident.get("verified_identities") or []:
            line.append("  verified: ")
            line.append(safe(" ".join(str(x) for x in (vi.get("name"), vi.get("username"), vi.get("provider"),
                                                     vi.get("uri")) if x), 200))
        t.add_row("Identity (CAWG)", line)
    if c.claim_generator:
        t.add_row("Claim generator", T(c.claim_generator))
    if c.state is not None or c.signed_at:
        t.add_row("Signed at", T(c.signed_at or "unknown (no trusted timestamp)", "" if c.signed_at else "dim"))
    if c.title:
        t.add_row("Title", T(c.title))
    if c.state is not None or c.digital_source_type:
        t.add_row("Source type", _dst_text(c.digital_source_type))
    if c.actions:
        t.add_row("Actions", T(", ".join(c.actions)))
    if c.signals:
        sig = Text()
        for i, x in enumerate(c.signals):
            if i:
                sig.append("\n")
            genai = x.get("id") in GENAI_SIGNALS
            sig.append_text(T(x.get("text"), "bold red" if genai else ""))
            sig.append(f"  {safe(x.get('id'), 80)}", style="dim")
        t.add_row("Signals", sig)
    if c.manifest_id:
        t.add_row("Manifest", T(c.manifest_id, "dim"))
    if c.remote:
        t.add_row("Remote", Text("manifest stored remotely", style="yellow"))
    parts.append(t)

    problems = [s for s in c.statuses if s.kind != "success"]
    ok = [s for s in c.statuses if s.kind == "success"]
    if problems or ok:
        st = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
        st.add_column("status", no_wrap=True)
        st.add_column("meaning", overflow="fold")
        for s in problems:
            st.add_row(T(s.code, "bold red" if s.kind == "failure" else "yellow"), T(s.explanation, limit=600))
        if ok:
            st.add_row(Text(f"{len(ok)} checks passed", style="green"),
                       T(", ".join(sorted({s.code for s in ok})), "dim", limit=600))
        parts.append(st)
    if c.ingredients:
        tree = Tree(Text("Ingredients", style="bold"))
        _ingredient_nodes(tree, c.ingredients, 0)
        parts.append(tree)
    return Group(*parts)


def _ingredient_nodes(tree: Tree, nodes: list[dict], depth: int) -> None:
    for n in nodes:
        label = T(n.get("title") or "untitled", "bold")
        label.append(f"  {safe(n.get('relationship') or '')}", style="dim")
        if n.get("state"):
            label.append(f"  {n['state']}", style=STATE_STYLES.get(n["state"], ""))
        elif not n.get("manifest_id"):
            label.append("  no credentials", style="dim")
        dst = n.get("digital_source_type")
        if dst:
            label.append("  ")
            label.append_text(_dst_text(dst))
        if n.get("actions"):
            label.append(f"  [{safe(', '.join(n['actions']), 120)}]", style="dim")
        child = tree.add(label)
        if depth < 8:
            _ingredient_nodes(child, n.get("ingredients") or [], depth + 1)
        elif n.get("ingredients"):
            child.add(Text("…", style="dim"))


def render_watermarks(w: WatermarkFinding) -> Table:
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for col in ("scheme", "detected", "payload", "bits", "false-positive p", "manifest"):
        t.add_column(col, overflow="fold")
    for d in w.detections:
        bits = f"{d.bits_matched}/{d.bits_total}" if d.bits_total and d.bits_matched is not None else "—"
        fpp = f"{d.false_positive_probability:.1e}" if d.false_positive_probability is not None else "—"
        det = Text("yes", style="bold red" if d.implies_ai else "bold cyan") if d.detected else Text("no", style="dim")
        manifest = T(d.manifest_id or "—", "dim")
        if d.manifest_id and d.content_match is False:
            manifest.append("  (not this image)", style="bold red")
        t.add_row(T(d.scheme), det, T(d.payload or "—"), Text(bits), Text(fpp), manifest)
    return t


def render_detector(d: DetectorFinding) -> Table:
    t = _kv_table()
    style = {"synthetic": "bold red", "real": "green", "uncertain": "yellow"}.get(d.label, "")
    t.add_row("Model", T(d.model))
    t.add_row("P(synthetic)", Text(f"{d.probability_synthetic:.3f}  (threshold {d.threshold:.2f})"))
    t.add_row("Label", Text(safe(d.label), style=style))
    if d.patches:
        t.add_row("Patches", Text(str(d.patches)))
    return t


def render_frames(f: FramesFinding) -> Table:
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    t.add_column("t (s)", justify="right")
    t.add_column("P(synthetic)", justify="right")
    t.add_column("")
    for point in f.timeline:
        p = float(point.get("probability_synthetic") or 0.0)
        bar = "█" * round(p * 20)
        t.add_row(f"{float(point.get('t') or 0):.2f}", f"{p:.3f}",
                  Text(bar, style="red" if p >= 0.5 else "green"))
    t.caption = f"{f.sampled} frames sampled"
    return t


def render_metadata(m: MetadataFinding) -> Table:
    t = _kv_table()
    if m.width and m.height:
        t.add_row("Size", Text(f"{m.width}×{m.height}"))
    for k, v in (m.exif or {}).items():
        t.add_row(T(f"EXIF {k}", limit=60), T(v, limit=200))
    if m.xmp_digital_source_type:
        t.add_row("XMP source type", _dst_text(m.xmp_digital_source_type))
    if m.generator_text:
        t.add_row("Generator", T(m.generator_hint or "generation parameters", "bold red"))
        t.add_row("", T(m.generator_text, "dim", limit=400))
    if not t.rows:
        t.add_row("", Text("no camera, software or generator metadata", style="dim"))
    return t


def _section(title: str, body) -> list:
    return [Text(title, style="bold underline"), body, Text("")]


def render_report(r: Report) -> Panel | Text:
    if r.error is not None:
        return error_line(r.path, r.error.code, r.error.message)
    parts: list = []
    v = r.verdict
    head = Text()
    label = v.label if v else "error"
    head.append(f" {label} ", style=LABEL_STYLES.get(label, "bold"))
    parts.append(head)
    for reason in (v.reasons if v else []):
        parts.append(Text("  • ") + T(reason, limit=600))
    parts.append(Text(""))
    if r.credentials is not None:
        parts += _section("Content Credentials", render_credentials(r.credentials))
    if r.watermarks is not None and r.watermarks.detections:
        parts += _section("Watermarks", render_watermarks(r.watermarks))
    if r.detector is not None:
        parts += _section("Detector", render_detector(r.detector))
    if r.frames is not None:
        parts += _section("Frames", render_frames(r.frames))
    if r.metadata is not None:
        parts += _section("Metadata", render_metadata(r.metadata))
    for e in r.analyser_errors:
        parts.append(T(f"{e.get('analyser')}: {e.get('code')}: {e.get('message')}", "yellow"))
    while parts and isinstance(parts[-1], Text) and not parts[-1].plain:
        parts.pop()
    title = T(r.path, "bold", limit=200)
    if r.media_type:
        title.append(f"  {r.media_type}", style="dim")
    return Panel(Group(*parts), title=title, title_align="left", border_style="grey50", expand=True)


def error_line(path: str, code: str, message: str) -> Text:
    t = T(path, "bold", limit=300)
    t.append(": error (", style="red")
    t.append(safe(code, 40), style="red")
    t.append("): ", style="red")
    t.append_text(T(message, limit=500))
    return t


def print_reports(reports: Iterable[Report], console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    for r in reports:
        console.print(render_report(r), highlight=False)
