// Verification page. Every string that comes from the checked file (titles, signer names, metadata…) is
// written with textContent, never innerHTML, so markup in a manifest shows as text and never runs.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const LABELS = {
    "ai-generated": "Made by AI",
    "likely-synthetic": "Likely synthetic",
    "authentic-credentials": "Authentic credentials",
    "tampered": "Tampered",
    "no-evidence": "No evidence either way",
    "error": "Could not check",
  };
  let previewUrl = null;

  // Bidi overrides and zero-width characters in a file's strings could make text read differently from
  // what it is ("gpj.exe" tricks): show them as visible code points instead.
  const INVISIBLE = /[\u200B-\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/g;
  function visible(text) {
    return String(text).replace(INVISIBLE, (c) => "[U+" + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0") + "]");
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = visible(text);
    if (cls) e.className = cls;
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function field(dl, name, value) {
    if (value === undefined || value === null || value === "" || (Array.isArray(value) && !value.length)) return;
    dl.appendChild(el("dt", name));
    dl.appendChild(el("dd", Array.isArray(value) ? value.join(", ") : value));
  }
  const TRUST_LISTS = {
    c2pa: "C2PA trust list",
    interim: "Interim trust list — signed under the interim trust list, frozen 2026-01-01",
    local: "Local trust anchor (installed on this server)",
  };
  function shortType(uri) { return uri ? String(uri).replace(/\/+$/, "").split("/").pop() : null; }

  function setStatus(text, isError) {
    const s = $("status");
    s.textContent = visible(text || "");
    s.classList.toggle("error", !!isError);
  }

  function ingredientNode(ing) {
    const li = el("li");
    const title = ing.title || ing.name || "(untitled ingredient)";
    const rel = ing.relationship ? " — " + ing.relationship : "";
    li.appendChild(el("span", title + rel));
    if (Array.isArray(ing.signals) && ing.signals.length) {
      li.appendChild(el("span", " — " + ing.signals.map((x) => x.text).join("; "), "signal-note"));
    }
    const kids = ing.ingredients || (ing.manifest && ing.manifest.ingredients) || [];
    if (Array.isArray(kids) && kids.length) {
      const ul = el("ul");
      kids.forEach((k) => ul.appendChild(ingredientNode(k)));
      li.appendChild(ul);
    }
    return li;
  }

  function renderCredentials(c) {
    const dl = $("c2pa-fields"); clear(dl); clear($("ingredients")); clear($("statuses"));
    clear($("signals")); clear($("identities"));
    $("ingredients-title").hidden = true; $("signals-title").hidden = true; $("identities-title").hidden = true;
    if (!c || !c.present) {
      $("c2pa-summary").textContent = "No Content Credentials in this file.";
      return;
    }
    const state = c.state || "unknown";
    let summary = {
      Trusted: "Signed, and the signer chains to a trusted certificate.",
      Valid: "Signed and intact, but the signer is not on this server's trust list.",
      Invalid: "Credentials are present but do not validate: the file or its manifest was changed.",
    }[state] || "Credentials found (state " + state + ").";
    if (state === "Trusted" && TRUST_LISTS[c.trust_list]) summary += " Trust list: " + TRUST_LISTS[c.trust_list] + ".";
    if (c.recovered_from) {
      summary += " The manifest was recovered from the repository through the " + c.recovered_from +
        ": this copy had lost its embedded credentials.";
    }
    $("c2pa-summary").textContent = visible(summary);
    const s = c.signer || {};
    field(dl, "Title", c.title);
    field(dl, "Signed by", [s.organization, s.common_name].filter(Boolean).join(" — ") || null);
    field(dl, "Country", s.country);
    field(dl, "Issuer", s.issuer);
    field(dl, "Trust list", c.trust_list ? (TRUST_LISTS[c.trust_list] || c.trust_list) : null);
    if (s.not_before || s.not_after) field(dl, "Certificate valid", (s.not_before || "?") + " → " + (s.not_after || "?"));
    (s.chain || []).slice(1).forEach((link) => field(dl, "Chain", link.subject + " (from the " + link.source + ")"));
    field(dl, "Signed at", c.signed_at);
    field(dl, "Made with", c.claim_generator);
    if (c.digital_source_type) {
      field(dl, "Source type", shortType(c.digital_source_type) + (c.ai_generated ? " (generative AI)" : ""));
    }
    field(dl, "Actions", c.actions);
    field(dl, "Manifest", c.manifest_id);
    field(dl, "Recovered via", c.recovered_from);
    if (Array.isArray(c.signals) && c.signals.length) {
      $("signals-title").hidden = false;
      c.signals.forEach((x) => {
        const li = el("li", x.text, /GenAI/.test(x.id) ? "genai" : "");
        li.appendChild(el("span", " " + x.id, "signal-id"));
        $("signals").appendChild(li);
      });
    }
    if (Array.isArray(c.identities) && c.identities.length) {
      $("identities-title").hidden = false;
      c.identities.forEach((ident) => {
        const a = ident.named_actor || {};
        let t = [a.organization, a.common_name].filter(Boolean).join(" — ") || "identity assertion";
        if (ident.sig_type) t += " (" + ident.sig_type + ")";
        (ident.verified_identities || []).forEach((vi) => {
          t += " — verified: " + [vi.name, vi.username, vi.provider, vi.uri].filter(Boolean).join(" ");
        });
        $("identities").appendChild(el("li", t));
      });
    }
    if (Array.isArray(c.ingredients) && c.ingredients.length) {
      $("ingredients-title").hidden = false;
      c.ingredients.forEach((i) => $("ingredients").appendChild(ingredientNode(i)));
    }
    (c.statuses || []).filter((st) => st.kind === "failure").forEach((st) => {
      $("statuses").appendChild(el("li", st.code + ": " + (st.explanation || ""), "failure"));
    });
  }

  function renderWatermarks(list) {
    const ul = $("watermarks"); clear(ul);
    const found = (list || []).filter((w) => w.detected);
    if (!found.length) {
      $("wm-summary").textContent = (list && list.length)
        ? "No known invisible watermark found (" + list.map((w) => w.scheme).join(", ") + " checked)."
        : "Watermark detection did not run.";
      return;
    }
    $("wm-summary").textContent = found.length === 1 ? "One invisible watermark found." : found.length + " invisible watermarks found.";
    found.forEach((w) => {
      let t = w.scheme + (w.source ? " (" + w.source + ")" : "");
      if (w.payload) t += " — payload " + w.payload;
      if (w.bits_total) t += " — " + w.bits_matched + "/" + w.bits_total + " bits";
      if (w.false_positive_probability !== null && w.false_positive_probability !== undefined) {
        t += " — chance of a false alarm " + Number(w.false_positive_probability).toExponential(1);
      }
      if (w.manifest_id) t += " — links to manifest " + w.manifest_id;
      ul.appendChild(el("li", t));
    });
  }

  function renderDetector(d) {
    $("det-meter").hidden = true;
    if (!d) {
      $("det-summary").textContent = "The detector did not run on this file.";
      $("det-explain").textContent = "";
      return;
    }
    const p = Number(d.probability_synthetic), th = Number(d.threshold);
    $("det-summary").textContent = "Probability synthetic: " + (p * 100).toFixed(0) + "% (" + d.label +
      ", threshold " + (th * 100).toFixed(0) + "%) — model " + d.model;
    $("det-meter").hidden = false;
    $("det-bar").style.width = Math.max(0, Math.min(100, p * 100)) + "%";
    $("det-threshold").style.left = Math.max(0, Math.min(100, th * 100)) + "%";
    $("det-explain").textContent =
      "The detector is a statistical model trained on real photos and AI images. It gives a probability, " +
      "not proof: new generators, heavy compression or small images can fool it either way. Signed " +
      "credentials and watermarks, when present, are stronger evidence.";
  }

  function renderMetadata(m) {
    const dl = $("meta-fields"); clear(dl);
    if (!m) return;
    field(dl, "Declared source", shortType(m.xmp_digital_source_type));
    field(dl, "Generator text", m.generator_text);
    const exif = m.exif || {};
    Object.keys(exif).slice(0, 12).forEach((k) => field(dl, k, typeof exif[k] === "object" ? JSON.stringify(exif[k]) : exif[k]));
    if (!dl.firstChild) dl.appendChild(el("dd", "Nothing notable."));
  }

  function render(report) {
    $("result").hidden = false;
    $("filename").textContent = visible(report.path || "");
    const v = report.verdict || { label: "error", reasons: [] };
    const badge = $("verdict");
    badge.className = "verdict" + (LABELS[v.label] ? " " + v.label : "");
    $("verdict-label").textContent = LABELS[v.label] || v.label;
    const reasons = $("reasons"); clear(reasons);
    (v.reasons || []).forEach((r) => reasons.appendChild(el("li", r)));
    if (report.error) reasons.appendChild(el("li", report.error.code + ": " + report.error.message));
    renderCredentials(report.c2pa);
    renderWatermarks(report.watermarks);
    renderDetector(report.detector);
    renderMetadata(report.metadata);
    $("raw").textContent = JSON.stringify(report, null, 2);
  }

  async function check(file) {
    if (!file) return;
    setStatus("Checking " + file.name + "…");
    $("result").hidden = true;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    const img = $("preview");
    img.hidden = true;
    if (file.type && file.type.startsWith("image/")) {
      previewUrl = URL.createObjectURL(file);
      img.src = previewUrl;
      img.hidden = false;
    }
    const body = new FormData();
    body.append("file", file, file.name);
    let res;
    try {
      res = await fetch("/v1/verify", { method: "POST", body: body });
    } catch (e) {
      setStatus("The server could not be reached.", true);
      return;
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (data && data.verdict) {
      render(data);
      setStatus(res.ok ? "" : "This file could not be fully checked.", !res.ok);
    } else {
      const msg = { 413: "The file is too large for this server.", 429: "The server is busy; try again in a moment.",
        401: "This server requires an API key for verification." }[res.status];
      setStatus(msg || ((data && data.detail) ? String(data.detail) : "Error " + res.status), true);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const input = $("file"), drop = $("drop");
    input.addEventListener("change", () => check(input.files[0]));
    ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
    drop.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) check(e.dataTransfer.files[0]); });
    $("form").addEventListener("submit", (e) => { e.preventDefault(); check(input.files[0]); });
    document.body.dataset.ready = "1";
  });
})();
