"""The self-contained HTML report: charts as inline SVG, a sortable/filterable table, thumbnails as data URIs.

Scale: the rows travel as compact JSON (one object per row, strings cut at FIELD_MAX characters) and the
page draws only the page of 100 rows in view, so 100,000+ rows open in a few seconds; thumbnails are kept
for at most THUMBS_MAX rows (flagged first) and an <img> exists only for the rows in view. The charts are
inline SVG over every row.

Safety: strings in the page's markup go through :func:`html.escape`; in the JSON blocks ``<``, ``>`` and
``&`` are escaped as \\uXXXX, so no string can end the block; the script builds rows with ``textContent`` only
(never ``innerHTML``); and a Content-Security-Policy allows only this page's own script (by hash), inline
styles and ``data:`` images — so the page makes no external request and a ``<script>`` smuggled in a
manifest title or a file name shows as text.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
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
th{background:#f0f0f0;cursor:default;user-select:none;position:sticky;top:0}th.sorted-asc:after{content:" \\25B2"}
th.sorted-desc:after{content:" \\25BC"}td.path{word-break:break-all;max-width:280px}
.badge{display:inline-block;padding:2px 6px;border-radius:4px;color:#fff;font-size:12px;white-space:nowrap}
td ul{margin:0;padding-left:16px}details summary{cursor:pointer;color:#555}
.controls{display:flex;gap:12px;align-items:center;margin-top:16px;flex-wrap:wrap}
.controls input{padding:4px 8px;width:280px}.err{color:#a00}.muted{color:#777}img.thumb{border-radius:3px;max-width:80px;max-height:80px}
dl{margin:0;font-size:12px}dt{font-weight:600;float:left;clear:left;margin-right:6px}dd{margin:0}
"""

# The table is drawn by script from the JSON data blocks, one page at a time, with createElement and
# textContent only (never innerHTML): a file-derived string can only ever be text.
JS = """
(function(){
function data(id){return JSON.parse(document.getElementById(id).textContent);}
var D=data('audit-rows'),T=data('audit-thumbs'),rows=D.rows,labels=D.labels,folders=D.folders,colours=D.colours;
var PAGE=100,page=0,order=[],sortCol=-1,asc=true;
var q=document.getElementById('q'),fv=document.getElementById('fverdict'),ff=document.getElementById('ffolder');
var tbody=document.getElementById('rows').tBodies[0],shown=document.getElementById('shown');
var pinfo=document.getElementById('pageinfo'),prev=document.getElementById('prev'),next=document.getElementById('next');
function el(tag,cls,text){var e=document.createElement(tag);if(cls)e.className=cls;if(text!=null)e.textContent=String(text);return e;}
function opt(sel,value,text){var o=el('option',null,text);o.value=value;sel.appendChild(o);}
var counts={};rows.forEach(function(r){counts[r.v]=(counts[r.v]||0)+1;});
labels.forEach(function(l,i){if(counts[i])opt(fv,l,l+' ('+counts[i]+')');});
folders.forEach(function(f,i){opt(ff,String(i),f);});
function hay(r){if(r._h==null){var parts=[r.p,labels[r.v]];(r.c||[]).forEach(function(kv){parts.push(kv[1]);});
 (r.w||[]).forEach(function(w){parts.push(w[0],w[1]);});(r.r||[]).forEach(function(x){parts.push(x);});
 if(r.e)parts.push(r.e[0],r.e[1]);(r.m||[]).forEach(function(kv){parts.push(kv[0],kv[1]);});
 r._h=parts.join('\\n').toLowerCase();}return r._h;}
function key(r,c){if(c===1)return r.p.toLowerCase();if(c===2)return r.o;if(c===3)return r.s==null?-1:r.s;return r.i;}
function apply(){var t=q.value.toLowerCase(),v=fv.value,f=ff.value;order=[];
 for(var i=0;i<rows.length;i++){var r=rows[i];
  if((v===''||labels[r.v]===v)&&(f===''||String(r.f)===f)&&(!t||hay(r).indexOf(t)>=0))order.push(i);}
 if(sortCol>=0)order.sort(function(a,b){var x=key(rows[a],sortCol),y=key(rows[b],sortCol);
  return (x<y?-1:x>y?1:rows[a].i-rows[b].i)*(asc?1:-1);});
 shown.textContent=order.length;page=0;draw();}
function list(items,fn){var ul=el('ul');items.forEach(function(x){ul.appendChild(el('li',null,fn?fn(x):x));});return ul;}
function dl(pairs){var d=el('dl');pairs.forEach(function(kv){d.appendChild(el('dt',null,kv[0]));d.appendChild(el('dd',null,kv[1]));});return d;}
function cell(tr,cls){var td=el('td',cls);tr.appendChild(td);return td;}
function draw(){var pages=Math.max(1,Math.ceil(order.length/PAGE));if(page>=pages)page=pages-1;if(page<0)page=0;
 tbody.textContent='';
 for(var k=page*PAGE;k<Math.min(order.length,(page+1)*PAGE);k++){var r=rows[order[k]],tr=el('tr');
  var td=cell(tr);if(T[r.i]){var img=el('img','thumb');img.alt='';img.src='data:image/jpeg;base64,'+T[r.i];td.appendChild(img);}
  else td.appendChild(el('span','muted','\\u2013'));
  cell(tr,'path').textContent=r.p;
  var b=el('span','badge',labels[r.v]);b.style.background=colours[r.v];cell(tr).appendChild(b);
  cell(tr,null).textContent=r.s==null?'\\u2013':r.s.toFixed(2);
  td=cell(tr);if(r.c&&r.c.length)td.appendChild(dl(r.c));else td.appendChild(el('span','muted','none'));
  td=cell(tr);if(r.w&&r.w.length)td.appendChild(list(r.w,function(w){return w[0]+' '+w[1];}));else td.appendChild(el('span','muted','none'));
  td=cell(tr);if(r.e){td.appendChild(el('span','err',r.e[0]));td.appendChild(document.createTextNode(': '+r.e[1]));}
  else td.appendChild(list(r.r||[]));
  td=cell(tr);if(r.m&&r.m.length){var det=el('details');det.appendChild(el('summary',null,r.m.length+' fields'));
   det.appendChild(dl(r.m));td.appendChild(det);}else td.appendChild(el('span','muted','\\u2013'));
  tbody.appendChild(tr);}
 pinfo.textContent='page '+(page+1)+' of '+pages;prev.disabled=page<=0;next.disabled=page>=pages-1;}
q.addEventListener('input',apply);fv.addEventListener('change',apply);ff.addEventListener('change',apply);
prev.addEventListener('click',function(){page--;draw();});next.addEventListener('click',function(){page++;draw();});
var ths=document.getElementById('rows').tHead.rows[0].cells;
for(var c=0;c<ths.length;c++){(function(c){if(c<1||c>3)return;ths[c].addEventListener('click',function(){
 asc=sortCol===c?!asc:true;sortCol=c;
 for(var k=0;k<ths.length;k++)ths[k].classList.remove('sorted-asc','sorted-desc');
 this.classList.add(asc?'sorted-asc':'sorted-desc');apply();});})(c);}
apply();document.body.setAttribute('data-ready','1');
})();
"""

THUMBS_MAX = 5000  # thumbnails embedded (flagged rows first): with 96-px JPEGs of ~2-4 kB, at most ~20 MB
FIELD_MAX = 300  # characters kept of any one string shown in the table (the JSONL has them whole)


def _json_block(obj) -> str:
    """JSON safe inside <script type="application/json">: no '<', '>' or '&' can end the element."""
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


class HtmlWriter:
    def __init__(self, path: str | Path, *, max_rows: int = 200_000, title: str = "forensics audit",
                 jsonl_name: str | None = None, max_thumbs: int = THUMBS_MAX):
        self.path = Path(path)
        self.max_rows = max_rows
        self.max_thumbs = max_thumbs
        self.title = title
        self.jsonl_name = jsonl_name
        self.verdicts: Counter = Counter()
        self.errors: Counter = Counter()
        self.hist = [0] * BINS
        self.scored = 0
        self.thresholds: Counter = Counter()
        self.folders: dict[str, Counter] = defaultdict(Counter)
        self.folder_ids: dict[str, int] = {}
        self.labels: dict[str, int] = {lbl: i for i, lbl in enumerate(LABEL_ORDER)}
        self.flagged: list[tuple[int, str]] = []  # anything but "no-evidence": shown first when capped
        self.plain: list[tuple[int, str]] = []
        self.thumbs_flagged: dict[int, str] = {}
        self.thumbs_plain: dict[int, str] = {}
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
        flagged = label != "no-evidence"
        bucket = self.flagged if flagged else self.plain
        if len(bucket) < self.max_rows:
            bucket.append((self.total, self._record(row, folder, label, p)))
            thumbs = self.thumbs_flagged if flagged else self.thumbs_plain
            if thumb and len(thumbs) < self.max_thumbs:
                thumbs[self.total] = base64.b64encode(thumb).decode()

    # -- table ----------------------------------------------------------------------------------
    def _record(self, row: dict, folder: str, label: str, p) -> str:
        """One table row as compact JSON (the page draws it; every string is shown with textContent)."""
        fid = self.folder_ids.setdefault(folder, len(self.folder_ids))
        lid = self.labels.setdefault(label, len(self.labels))
        rec: dict = {"i": self.total, "p": _short(row.get("path") or "", 1000), "f": fid, "v": lid,
                     "o": LABEL_ORDER.index(label) if label in LABEL_ORDER else 99}
        if isinstance(p, (int, float)) and math.isfinite(p):
            rec["s"] = round(float(p), 4)
        c2pa = row.get("c2pa") or {}
        if c2pa.get("present"):
            signer = c2pa.get("signer") or {}
            cred = [("state", c2pa.get("state")),
                    ("signer", signer.get("organization") or signer.get("common_name")),
                    ("title", c2pa.get("title")),
                    ("source type", (c2pa.get("digital_source_type") or "").rsplit("/", 1)[-1] or None),
                    ("generator", c2pa.get("claim_generator")), ("recovered from", c2pa.get("recovered_from"))]
            rec["c"] = [[k, _short(v)] for k, v in cred if v]
        wms = [w for w in (row.get("watermarks") or []) if w.get("detected")]
        if wms:
            rec["w"] = [[_short(w.get("scheme") or ""), _short(w.get("payload") or "")] for w in wms]
        err = row.get("error")
        if err:
            rec["e"] = [_short(err.get("code") or ""), _short(err.get("message") or "")]
        else:
            rec["r"] = [_short(r) for r in ((row.get("verdict") or {}).get("reasons") or [])[:20]]
        meta = row.get("metadata") or {}
        items = [(k, v) for k, v in list((meta.get("exif") or {}).items())[:EXIF_KEYS_SHOWN]]
        if meta.get("generator_text"):
            items.insert(0, ("generator text", meta["generator_text"]))
        if items:
            rec["m"] = [[_short(k, 80), _short(v)] for k, v in items]
        return _json_block(rec)

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
    def _selected(self) -> tuple[list[str], dict[int, str]]:
        """The table: every flagged row first (up to the cap), then plain ones, shown in scan order; the
        thumbnails likewise (flagged first, up to ``max_thumbs``)."""
        keep = self.flagged[: self.max_rows]
        keep += self.plain[: self.max_rows - len(keep)]
        kept = {i for i, _ in keep}
        thumbs = dict(self.thumbs_flagged)
        for i, t in self.thumbs_plain.items():
            if len(thumbs) >= self.max_thumbs:
                break
            thumbs[i] = t
        return [rec for _, rec in sorted(keep)], {i: t for i, t in thumbs.items() if i in kept}

    @property
    def rows(self) -> list[dict]:
        """The table's rows, as the page receives them."""
        return [json.loads(r) for r in self._selected()[0]]

    def close(self, summary: dict | None = None) -> None:
        rows, thumbs = self._selected()
        script_hash = base64.b64encode(hashlib.sha256(JS.encode()).digest()).decode()
        csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; "
               "base-uri 'none'; form-action 'none'")
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        errors = ", ".join(f"{esc(k)}: {v}" for k, v in sorted(self.errors.items())) or "none"
        more = ""
        if self.total > len(rows):
            more = (f'<p class="muted">The table holds {len(rows)} of {self.total} rows (every flagged row or '
                    f"error first, up to {self.max_rows}); the charts count all of them; every row is in "
                    f"{esc(self.jsonl_name or 'the JSONL report')}.</p>")
        if len(thumbs) < len(rows):
            more += (f'<p class="muted">Thumbnails for {len(thumbs)} rows (flagged first, at most '
                     f"{self.max_thumbs}).</p>")
        extra = ""
        if summary:
            extra = (f" · {esc(summary.get('skipped', 0))} files skipped (not images or videos, or not regular files)"
                     f" · {esc(summary.get('reused', 0))} results reused from the previous run")
        labels = sorted(self.labels, key=self.labels.get)
        folders = sorted(self.folder_ids, key=self.folder_ids.get)
        head = _json_block({"labels": labels, "colours": [LABEL_COLOURS.get(lbl, "#555") for lbl in labels],
                            "folders": folders})
        page_head = f"""<!DOCTYPE html>
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
<select id="fverdict"><option value="">all verdicts</option></select>
<select id="ffolder"><option value="">all folders</option></select>
<span><span id="shown">{len(rows)}</span> shown</span>
<button id="prev" type="button">‹ previous</button><span id="pageinfo"></span>
<button id="next" type="button">next ›</button></div>
{more}
<table id="rows"><thead><tr><th>thumb</th><th>path</th><th>verdict</th><th>p(synthetic)</th>
<th>Content Credentials</th><th>watermarks</th><th>reasons / error</th><th>metadata</th></tr></thead>
<tbody></tbody></table></main>
<script type="application/json" id="audit-rows">"""
        f = AtomicFile(self.path)
        try:  # streamed: the page is never held in memory as one string
            fh = f.fh
            fh.write(page_head)
            fh.write(head[:-1] + ',"rows":[')
            for i, rec in enumerate(rows):
                if i:
                    fh.write(",\n")
                fh.write(rec)
            fh.write(']}</script>\n<script type="application/json" id="audit-thumbs">{')
            for i, (k, t) in enumerate(sorted(thumbs.items())):
                fh.write(("," if i else "") + f'"{k}":"{t}"')
            fh.write(f"}}</script>\n<script>{JS}</script></body></html>\n")
        except BaseException:
            f.abort()
            raise
        f.commit()

    def abort(self) -> None:
        pass


def _short(v, n: int = FIELD_MAX) -> str:
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[: n - 1] + "…"
