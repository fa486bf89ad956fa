"""The synthetic-image detector: training (torch, timm) → ONNX → inference with onnxruntime.

``forensics.detect.inference`` and ``forensics.detect.analyser`` never import torch; ``model``, ``train``
and ``cache`` do and are used only by ``forensics detect train``.
"""
