"""The self-contained HTML report: charts as inline SVG, a sortable/filterable table, thumbnails as data URIs.

Safety: every string that comes from a file (path, C2PA title and signer, EXIF, reasons that quote them)
goes through :func:`html.escape`, rows are rendered here rather than injected by script, and a
Content-Security-Policy allows only this page's own script (by hash), inline styles and ``data:`` images —
so the page makes no external request and a ``<script>`` smuggled in a manifest title shows as text.
"""
from __future__ import annotations

import base64
import hashlib
import html
import math
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

from .outputs import AtomicFile

LABEL_COLOURS = {
    "ai-generated": "#c0392b", "likely-synthetic": "#e67e22", "tampered": "#8e44ad",
    "authentic-credentials": "#27ae60", "no-evidence": "#7f8c8d", "error": "#34495e",
}
LABEL_ORDER = list(LABEL_COLOURS)
BINS = 20
MAX_FOLDERS = 30
EXIF_KEYS_SHOWN = 25


def esc(v) -> str:
    return html.escape("" if v is None else str(v), quote=True)


CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2d3a;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;opacity:.8}main{padding:16px 24px}
.cards{display:flex;flex-wrap:wrap;gap:16px}.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px}
.card h2{font-size:15px;margin:0 0 8px}svg text{font-size:11px;fill:#333}
table{border-collapse:collapse;width:100%;background:#fff;margin-top:12px}
th,td{border-bottom:1px solid #e5e5e5;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0;cursor:pointer;user-select:none;position:sticky;top:0}th.sorted-asc:after{content:" \\25B2"}
th.sorted-desc:after{content:" \\25BC"}td.path{word-break:break-all;max-width:280px}
.badge{display:inline-block;padding:2px 6px;border-radius:4px;color:#fff;font-size:12px;white-space:nowrap}
td ul{margin:0;padding-left:16px}details summary{cursor:pointer;color:#555}
.controls{display:flex;gap:12px;align-items:center;margin-top:16px;flex-wrap:wrap}
.controls input{padding:4px 8px;width:280px}.err{color:#a00}.muted{color:#777}img.thumb{border-radius:3px;max-width:80px;max-height:80px}
dl{margin:0;font-size:12px}dt{font-weight:600;float:left;clear:left;margin-right:6px}dd{margin:0}
"""

# Sorting and filtering only move existing rows; no file-derived data ever passes through script.
JS = """
(function(){
var table=document.getElementById('rows'),tbody=table.tBodies[0];
var q=document.getElementById('q'),fv=document.getElementById('fverdict'),ff=document.getElementById('ffolder');
var shown=document.getElementById('shown');
function apply(){var t=q.value.toLowerCase(),v=fv.value,f=ff.value,n=0;
 for(var i=0;i<tbody.rows.length;i++){var r=tbody.rows[i];
  var ok=(!v||r.getAttribute('data-verdict')===v)&&(!f||r.getAttribute('data-folder')===f)&&
   (!t||r.textContent.toLowerCase().indexOf(t)>=0);r.style.display=ok?'':'none';if(ok)n++;}
 shown.textContent=n;}
q.addEventListener('input',apply);fv.addEventListener('change',apply);ff.addEventListener('change',apply);
var ths=table.tHead.rows[0].cells;
for(var c=0;c<ths.length;c++){(function(c){ths[c].addEventListener('click',function(){
 var asc=!this.classList.contains('sorted-asc');
 for(var k=0;k<ths.length;k++)ths[k].classList.remove('sorted-asc','sorted-desc');
 this.classList.add(asc?'sorted-asc':'sorted-desc');
 var rows=Array.prototype.slice.call(tbody.rows);
 function key(r){var cell=r.cells[c],s=cell.getAttribute('data-sort');
  if(s!==null&&s!==''&&!isNaN(s))return parseFloat(s);return (s!==null?s:cell.textContent).toLowerCase();}
 rows.sort(function(a,b){var x=key(a),y=key(b);
  if(typeof x!==typeof y){x=String(x);y=String(y);}return (x<y?-1:x>y?1:0)*(asc?1:-1);});
 rows.forEach(function(r){tbody.appendChild(r);});});})(c);}
apply();
})();
"""


class HtmlWriter:
    def __init__(self, path: str | Path, *, max_rows: int = 5000, title: str = "forensics audit",
                 jsonl_name: str | None = None):
        self.path = Path(path)
        self.max_rows = max_rows
        self.title = title
        self.jsonl_name = jsonl_name
        self.verdicts: Counter = Counter()
        self.errors: Counter = Counter()
        self.hist = [0] * BINS
        self.scored = 0
        self.thresholds: Counter = Counter()
        self.folders: dict[str, Counter] = defaultdict(Counter)
        self.flagged: list[tuple[int, str]] = []  # anything but "no-evidence": shown first when capped
        self.plain: list[tuple[int, str]] = []
        self.total = 0

    def add(self, row: dict, folder: str, thumb: bytes | None) -> None:
        self.total += 1
        label = (row.get("verdict") or {}).get("label") or "error"
        self.verdicts[label] += 1
        self.folders[folder][label] += 1
        if row.get("error"):
            self.errors[row["error"].get("code") or "error"] += 1
        p = (row.get("detector") or {}).get("probability_synthetic")
        if isinstance(p, (int, float)) and math.isfinite(p):
            self.hist[min(BINS - 1, max(0, int(p * BINS)))] += 1
            self.scored += 1
            thr = (row.get("detector") or {}).get("threshold")
            if isinstance(thr, (int, float)) and math.isfinite(thr):
                self.thresholds[round(thr, 4)] += 1
        bucket = self.plain if label == "no-evidence" else self.flagged
        if len(bucket) < self.max_rows:
            bucket.append((self.total, self._row(row, folder, label, thumb)))

    # -- table ----------------------------------------------------------------------------------
    def _row(self, row: dict, folder: str, label: str, thumb: bytes | None) -> str:
        colour = LABEL_COLOURS.get(label, "#555")
        img = (f'<img class="thumb" alt="" src="data:image/jpeg;base64,{base64.b64encode(thumb).decode()}">'
               if thumb else '<span class="muted">–</span>')
        det = row.get("detector") or {}
        p = det.get("probability_synthetic")
        p_txt = f"{p:.2f}" if isinstance(p, (int, float)) else "–"
        c2pa = row.get("c2pa") or {}
        signer = c2pa.get("signer") or {}
        cred = []
        if c2pa.get("present"):
            cred.append(("state", c2pa.get("state")))
            cred.append(("signer", signer.get("organization") or signer.get("common_name")))
            cred.append(("title", c2pa.get("title")))
            cred.append(("source type", (c2pa.get("digital_source_type") or "").rsplit("/", 1)[-1] or None))
            cred.append(("generator", c2pa.get("claim_generator")))
            if c2pa.get("recovered_from"):
                cred.append(("recovered from", c2pa.get("recovered_from")))
        cred_html = ("<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in cred if v) + "</dl>"
                     if cred else '<span class="muted">none</span>')
        wms = [w for w in (row.get("watermarks") or []) if w.get("detected")]
        wm_html = "<br>".join(f"{esc(w.get('scheme'))} <span class=\"muted\">{esc(w.get('payload') or '')}</span>"
                              for w in wms) or '<span class="muted">none</span>'
        reasons = (row.get("verdict") or {}).get("reasons") or []
        err = row.get("error")
        reasons_html = "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in reasons) + "</ul>"
        if err:
            reasons_html = f'<span class="err">{esc(err.get("code"))}</span>: {esc(err.get("message"))}'
        meta = row.get("metadata") or {}
        exif = meta.get("exif") or {}
        meta_items = [(k, v) for k, v in list(exif.items())[:EXIF_KEYS_SHOWN]]
        if meta.get("generator_text"):
            meta_items.insert(0, ("generator text", meta["generator_text"]))
        meta_html = ("<details><summary>" + esc(len(meta_items)) + " fields</summary><dl>"
                     + "".join(f"<dt>{esc(k)}</dt><dd>{esc(_short(v))}</dd>" for k, v in meta_items)
                     + "</dl></details>") if meta_items else '<span class="muted">–</span>'
        return (f'<tr data-verdict="{esc(label)}" data-folder="{esc(folder)}">'
                f"<td>{img}</td><td class=\"path\">{esc(row.get('path'))}</td>"
                f'<td data-sort="{LABEL_ORDER.index(label) if label in LABEL_ORDER else 99}">'
                f'<span class="badge" style="background:{colour}">{esc(label)}</span></td>'
                f'<td data-sort="{esc(p if isinstance(p, (int, float)) else -1)}">{p_txt}</td>'
                f"<td>{cred_html}</td><td>{wm_html}</td><td>{reasons_html}</td><td>{meta_html}</td></tr>")

    # -- charts ---------------------------------------------------------------------------------
    def _verdict_chart(self) -> str:
        labels = [lbl for lbl in LABEL_ORDER if self.verdicts.get(lbl)] + sorted(
            k for k in self.verdicts if k not in LABEL_ORDER)
        if not labels:
            return '<p class="muted">no rows</p>'
        top = max(self.verdicts.values())
        bar_w, h = 220, 22
        out = [f'<svg width="{150 + bar_w + 60}" height="{h * len(labels) + 4}" role="img" '
               'aria-label="verdict counts">']
        for i, lbl in enumerate(labels):
            n = self.verdicts[lbl]
            w = max(1, round(bar_w * n / top))
            y = i * h + 2
            out.append(f'<text x="145" y="{y + 15}" text-anchor="end">{esc(lbl)}</text>'
                       f'<rect x="150" y="{y + 3}" width="{w}" height="{h - 6}" '
                       f'fill="{LABEL_COLOURS.get(lbl, "#555")}"></rect>'
                       f'<text x="{155 + w}" y="{y + 15}">{n}</text>')
        out.append("</svg>")
        return "".join(out)

    def _histogram(self) -> str:
        if not self.scored:
            return '<p class="muted">no detector scores (detector off or not installed)</p>'
        top = max(self.hist)
        bw, ph = 16, 120
        w = BINS * bw + 40
        thr = self.thresholds.most_common(1)[0][0] if self.thresholds else 0.5  # the detector's own threshold
        out = [f'<svg width="{w}" height="{ph + 36}" role="img" aria-label="detector score histogram">']
        for i, n in enumerate(self.hist):
            hh = round(ph * n / top) if top else 0
            x = 30 + i * bw
            colour = "#c0392b" if (i + 1) / BINS > thr else "#2980b9"
            out.append(f'<rect x="{x}" y="{10 + ph - hh}" width="{bw - 2}" height="{hh}" fill="{colour}">'
                       f"<title>{i / BINS:.2f}–{(i + 1) / BINS:.2f}: {n}</title></rect>")
        out.append(f'<line x1="28" y1="{10 + ph}" x2="{w - 8}" y2="{10 + ph}" stroke="#999"></line>')
        for t in (0, 0.5, 1.0):
            out.append(f'<text x="{30 + t * BINS * bw}" y="{ph + 26}" text-anchor="middle">{t:g}</text>')
        tx = 30 + thr * BINS * bw
        out.append(f'<line x1="{tx:.1f}" y1="6" x2="{tx:.1f}" y2="{10 + ph}" stroke="#333" stroke-dasharray="3,3">'
                   f"<title>threshold {thr:g}</title></line>"
                   f'<text x="{tx + 3:.1f}" y="14">threshold {thr:.2f}</text>')
        out.append(f'<text x="26" y="18" text-anchor="end">{top}</text></svg>')
        return "".join(out)

    def _folder_chart(self) -> str:
        if not self.folders:
            return ""
        items = sorted(self.folders.items(), key=lambda kv: -sum(kv[1].values()))
        if len(items) > MAX_FOLDERS:
            other: Counter = Counter()
            for _, c in items[MAX_FOLDERS - 1:]:
                other.update(c)
            items = items[:MAX_FOLDERS - 1] + [(f"({len(items) - MAX_FOLDERS + 1} other folders)", other)]
        top = max(sum(c.values()) for _, c in items)
        bar_w, h, lw = 320, 22, 260
        out = [f'<svg width="{lw + bar_w + 70}" height="{h * len(items) + 30}" role="img" '
               'aria-label="verdicts per folder">']
        for i, (folder, c) in enumerate(items):
            y = i * h + 2
            name = folder if len(folder) <= 40 else "…" + folder[-39:]
            out.append(f'<text x="{lw - 5}" y="{y + 15}" text-anchor="end"><title>{esc(folder)}</title>'
                       f"{esc(name)}</text>")
            x = float(lw)
            for lbl in LABEL_ORDER + sorted(k for k in c if k not in LABEL_ORDER):
                n = c.get(lbl, 0)
                if not n:
                    continue
                w = bar_w * n / top
                out.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 0.5):.1f}" height="{h - 6}" '
                           f'fill="{LABEL_COLOURS.get(lbl, "#555")}"><title>{esc(lbl)}: {n}</title></rect>')
                x += w
            out.append(f'<text x="{x + 5:.1f}" y="{y + 15}">{sum(c.values())}</text>')
        ly = h * len(items) + 14
        lx = 10
        for lbl in LABEL_ORDER:
            out.append(f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{LABEL_COLOURS[lbl]}"></rect>'
                       f'<text x="{lx + 14}" y="{ly + 9}">{esc(lbl)}</text>')
            lx += 24 + 7 * len(lbl)
        out.append("</svg>")
        return "".join(out)

    # -- page -----------------------------------------------------------------------------------
    @property
    def rows(self) -> list[str]:
        """The table: every flagged row first (up to the cap), then plain ones, shown in scan order."""
        keep = self.flagged[: self.max_rows]
        keep += self.plain[: self.max_rows - len(keep)]
        return [html_row for _, html_row in sorted(keep)]

    def close(self, summary: dict | None = None) -> None:
        rows = self.rows
        script_hash = base64.b64encode(hashlib.sha256(JS.encode()).digest()).decode()
        csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; "
               "base-uri 'none'; form-action 'none'")
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        verdict_opts = "".join(f'<option value="{esc(v)}">{esc(v)} ({self.verdicts[v]})</option>'
                               for v in LABEL_ORDER if self.verdicts.get(v))
        folder_opts = "".join(f'<option value="{esc(f)}">{esc(f)}</option>' for f in sorted(self.folders)[:2000])
        errors = ", ".join(f"{esc(k)}: {v}" for k, v in sorted(self.errors.items())) or "none"
        more = ""
        if self.total > len(rows):
            more = (f'<p class="muted">The table shows {len(rows)} of {self.total} rows (every flagged row or '
                    f"error first, up to {self.max_rows}); the charts count all of them; every row is in "
                    f"{esc(self.jsonl_name or 'the JSONL report')}.</p>")
        extra = ""
        if summary:
            extra = (f" · {esc(summary.get('skipped', 0))} files skipped (not images or videos)"
                     f" · {esc(summary.get('reused', 0))} results reused from the previous run")
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(self.title)}</title><style>{CSS}</style></head>
<body><header><h1>{esc(self.title)}</h1><p>{self.total} files · generated {when}{extra} · errors: {errors}</p>
</header><main>
<div class="cards">
<div class="card"><h2>Verdicts</h2>{self._verdict_chart()}</div>
<div class="card"><h2>Detector: probability synthetic ({self.scored} scored)</h2>{self._histogram()}</div>
<div class="card"><h2>Per folder</h2>{self._folder_chart()}</div>
</div>
<div class="controls"><input id="q" type="search" placeholder="filter: path, signer, reason, EXIF…">
<select id="fverdict"><option value="">all verdicts</option>{verdict_opts}</select>
<select id="ffolder"><option value="">all folders</option>{folder_opts}</select>
<span><span id="shown">{len(rows)}</span> shown</span></div>
{more}
<table id="rows"><thead><tr><th>thumb</th><th>path</th><th>verdict</th><th>p(synthetic)</th>
<th>Content Credentials</th><th>watermarks</th><th>reasons / error</th><th>metadata</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></main>
<script>{JS}</script></body></html>
"""
        f = AtomicFile(self.path)
        try:
            f.fh.write(page)
        except BaseException:
            f.abort()
            raise
        f.commit()

    def abort(self) -> None:
        pass


def _short(v, n: int = 300) -> str:
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[: n - 1] + "…"
