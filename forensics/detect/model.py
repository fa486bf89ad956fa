"""The detector network (torch + timm; training and export only — inference runs the ONNX export).

``DetectorNet`` = a fixed frequency-artifact front end + a timm backbone with one logit per patch. The front
end is part of the exported graph, so inference feeds plain RGB in [0, 1] and cannot drift from training.

Front ends (the ablation in docs/detector.md compares them):
* ``rgb``      — pixels, mean/std normalised (baseline).
* ``highpass`` — pixels minus their 3×3 box blur: the high-frequency residual where up-sampling and
                 compression traces live, with image content mostly removed.
* ``npr``      — NPR (Tan et al., CVPR 2024): x − up(down(x)) with nearest neighbour ×2, i.e. the
                 differences between neighbouring pixels inside each 2×2 cell, where up-sampling leaves
                 correlations.
"""
from __future__ import annotations

import timm
import torch
import torch.nn.functional as F
from timm.models import register_model
from timm.models.resnet import BasicBlock, ResNet
from torch import nn

FRONT_ENDS = ("rgb", "highpass", "npr")


class FrontEnd(nn.Module):
    def __init__(self, kind: str = "npr", gain: float = 8.0):
        super().__init__()
        if kind not in FRONT_ENDS:
            raise ValueError(f"unknown front end {kind!r}; choose from {', '.join(FRONT_ENDS)}")
        self.kind, self.gain = kind, gain  # residuals are small: scale them to unit-ish range

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: N×3×H×W in [0, 1]
        if self.kind == "rgb":
            return (x - 0.45) / 0.25
        if self.kind == "highpass":
            return (x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)) * self.gain
        down = x[:, :, ::2, ::2]  # nearest ×0.5, export-friendly
        up = down.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        return (x - up) * self.gain


@register_model
def resnet_tiny(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-10 at a quarter of the width (≈1.2 M parameters): sized for CPU training on small patches."""
    if pretrained:
        raise ValueError("resnet_tiny has no pretrained weights")
    kwargs.setdefault("channels", (32, 64, 128, 256))
    for k in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):  # timm factory extras ResNet() lacks
        kwargs.pop(k, None)
    return ResNet(block=BasicBlock, layers=(1, 1, 1, 1), stem_width=32, **kwargs)


@register_model
def resnet_tiny_nopool(pretrained: bool = False, **kwargs) -> ResNet:
    """``resnet_tiny`` without the stem max-pool and at half its width (about the same compute). Up-sampling
    traces have a period of 2-8 px; a stride-2 conv followed by a max-pool discards most of them before
    the first residual block (NPR, CVPR 2024, also keeps early resolution)."""
    kwargs.setdefault("channels", (16, 32, 64, 128))
    model = resnet_tiny(pretrained, **kwargs)
    model.maxpool = nn.Identity()
    return model


class DetectorNet(nn.Module):
    def __init__(self, front_end: str = "npr", backbone: str = "resnet_tiny", **backbone_kwargs):
        super().__init__()
        self.front = FrontEnd(front_end)
        self.backbone = timm.create_model(backbone, pretrained=False, in_chans=3, num_classes=1, **backbone_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.front(x))[:, 0]  # one logit per patch


class EnsembleNet(nn.Module):
    """Several detector networks as one: the mean of their patch logits (one ONNX graph, one session)."""

    def __init__(self, nets):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([n(x) for n in self.nets]).mean(0)


def export_onnx(model: DetectorNet, path, patch: int) -> None:
    """Export with a dynamic batch (the patches of one image) to ONNX."""
    model.eval()
    dummy = torch.rand(2, 3, patch, patch)
    torch.onnx.export(model, dummy, str(path), input_names=["patches"], output_names=["logits"],
                      dynamic_axes={"patches": {0: "n"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)
