"""Per-generator-family AUC of held-out fold scores (``heldout.json`` of scripts/detector_protocol.py): each
family's fakes against all reals of the same fold. Prints a markdown table.

    python scripts/detector_families.py runs/detector/protocol/b-older runs/detector/protocol/b-sdnext ...
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

FAMILIES = [  # first match wins
    ("glid", "GLID-3-XL"), ("dalle-2", "DALL·E 2"), ("dalle-mini", "DALL·E mini"), ("midjourney", "Midjourney"),
    ("flux.2", "FLUX.2"), ("flux", "FLUX.1 (+ fine-tunes)"), ("chroma", "FLUX.1 (+ fine-tunes)"),
    ("sd-3", "SD3 / 3.5"), ("sd3", "SD3 / 3.5"), ("sdxl", "SDXL (+ fine-tunes)"), ("xl", "SDXL (+ fine-tunes)"),
    ("pony", "SDXL (+ fine-tunes)"), ("juggernaut", "SDXL (+ fine-tunes)"), ("playground", "SDXL (+ fine-tunes)"),
    ("ssd-1b", "SDXL (+ fine-tunes)"), ("segmind", "SDXL (+ fine-tunes)"), ("kolors", "Kolors"),
    ("sd-1", "SD 1.x / 2.x (+ fine-tunes)"), ("sd-2", "SD 1.x / 2.x (+ fine-tunes)"), ("sd-1.x", "SD 1.x / 2.x (+ fine-tunes)"),
    ("stable-diffusion", "SD 1.x / 2.x (+ fine-tunes)"), ("tiny-sd", "SD 1.x / 2.x (+ fine-tunes)"),
    ("instaflow", "SD 1.x / 2.x (+ fine-tunes)"), ("dreamshaper", "SD 1.x / 2.x (+ fine-tunes)"),
    ("latent-diffusion", "LDM"), ("qwen", "Qwen-Image"), ("hidream", "HiDream"), ("sana", "Sana"),
    ("pixart", "PixArt"), ("hunyuan", "HunyuanDiT / Image"), ("cogview", "CogView"), ("lumina", "Lumina"),
    ("z-image", "Z-Image"), ("zit", "Z-Image"), ("wan2", "Wan"), ("kandinsky", "Kandinsky"),
    ("cascade", "Stable Cascade / Würstchen"), ("wuerstchen", "Stable Cascade / Würstchen"),
]


def family(generator: str) -> str:
    g = generator.lower()
    for key, fam in FAMILIES:
        if key in g:
            return fam
    return "other"


def main(argv=None) -> int:
    from sklearn.metrics import roc_auc_score

    argv = argv if argv is not None else sys.argv[1:]
    rows = []
    for d in argv:
        for r in json.loads((Path(d) / "heldout.json").read_text())["rows"]:
            rows.append(r | {"fold": Path(d).name.split("-", 1)[1]})
    fams: dict[str, list] = {}
    for r in rows:
        if r["label"] == 1:
            fams.setdefault(family(r["generator"]), []).append(r)
    print("| family | n fakes | folds | AUC vs the same folds' reals |")
    print("|---|---|---|---|")
    for fam, fr in sorted(fams.items(), key=lambda kv: -len(kv[1])):
        folds = sorted({r["fold"] for r in fr})
        reals = [r for r in rows if r["label"] == 0 and r["fold"] in folds]
        y = np.r_[np.zeros(len(reals)), np.ones(len(fr))]
        z = np.r_[[r["logit"] for r in reals], [r["logit"] for r in fr]]
        print(f"| {fam} | {len(fr)} | {', '.join(folds)} | {roc_auc_score(y, z):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
