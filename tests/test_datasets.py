"""Dataset tooling: loaders for the common layouts, group-aware splits, augmentations, fake builders."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from forensics.datasets import group_split, load_dataset, split_of
from forensics.datasets.augment import augment, center_crop, equalise, jpeg, robustness_conditions
from forensics.datasets.builders import UpsampleSimulator, default_builders
from forensics.datasets.splits import check_disjoint

from conftest import SHARED, require


def _img(path, size=(40, 30), seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)


def test_labels_csv_layout(tmp_path):
    _img(tmp_path / "cam" / "a.jpg")
    _img(tmp_path / "gen" / "b.png")
    (tmp_path / "labels.csv").write_text("path,label,generator\ncam/a.jpg,real,\ngen/b.png,fake,sdxl\n")
    s = load_dataset(tmp_path)
    assert [(x.label, x.source) for x in s] == [(0, "cam"), (1, "sdxl")]
    assert s[0].group != s[1].group


def test_labels_csv_rejects_unknown_label(tmp_path):
    _img(tmp_path / "a.jpg")
    (tmp_path / "labels.csv").write_text("path,label\na.jpg,maybe\n")
    with pytest.raises(ValueError, match="unknown label"):
        load_dataset(tmp_path)


def test_forensynths_layout(tmp_path):
    for cls in ("car", "cat"):
        _img(tmp_path / cls / "0_real" / "x.png")
        _img(tmp_path / cls / "1_fake" / "x.png")
    s = load_dataset(tmp_path)
    assert sorted((x.source, x.label) for x in s) == [("car", 0), ("car", 1), ("cat", 0), ("cat", 1)]


def test_genimage_layout(tmp_path):
    _img(tmp_path / "midjourney" / "train" / "ai" / "1.png")
    _img(tmp_path / "midjourney" / "train" / "nature" / "2.jpg")
    s = load_dataset(tmp_path)
    assert sorted((x.source, x.label) for x in s) == [("midjourney", 0), ("midjourney", 1)]


def test_unknown_layout_is_a_clear_error(tmp_path):
    _img(tmp_path / "a.png")
    with pytest.raises(ValueError, match="no labels.csv"):
        load_dataset(tmp_path)


def test_group_split_is_deterministic_and_disjoint():
    from forensics.datasets import Sample

    samples = [Sample(f"/x/{i}.jpg", i % 2, "s", f"g{i // 3}") for i in range(300)]  # 3 items per group
    a, b = group_split(samples, seed=3), group_split(samples, seed=3)
    assert {k: [s.path for s in v] for k, v in a.items()} == {k: [s.path for s in v] for k, v in b.items()}
    check_disjoint(a)
    assert all(len(v) > 0 for v in a.values())
    assert split_of("g1", 3) == split_of("g1", 3)
    # a different seed moves some groups
    assert any(split_of(f"g{i}", 3) != split_of(f"g{i}", 4) for i in range(100))


def test_check_disjoint_catches_leaks():
    from forensics.datasets import Sample

    with pytest.raises(ValueError, match="both"):
        check_disjoint({"train": [Sample("a", 0, "s", "g")], "test": [Sample("b", 1, "s", "g")]})


def test_augmentations_keep_shape_and_equalise_protocol():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (300, 700, 3), dtype=np.uint8)
    assert augment(img, 64, rng).shape == (64, 64, 3)
    assert center_crop(img, 512).shape == (300, 300, 3)  # smaller than the crop: the short side
    eq = equalise(img, 256, 90)
    assert eq.shape == (256, 256, 3) and not np.array_equal(eq, center_crop(img, 256))  # JPEG changed it
    assert np.abs(jpeg(img, 100).astype(int) - img).mean() < np.abs(jpeg(img, 30).astype(int) - img).mean()
    for name, fn in robustness_conditions().items():
        out = fn(eq)
        assert out.dtype == np.uint8 and out.shape[2] == 3, name


@pytest.mark.parametrize("mode", UpsampleSimulator.MODES)
def test_upsample_simulators_leave_an_upsampling_trace(mode):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    fake = UpsampleSimulator(mode)(img, rng)
    assert fake.shape == img.shape and fake.dtype == np.uint8
    # up-sampled content has less energy in the highest frequencies than white noise had
    hp = lambda x: np.abs(np.diff(x.astype(float), axis=1)).mean()  # noqa: E731
    assert hp(fake) < hp(img)


def test_unknown_builder_is_rejected():
    with pytest.raises(ValueError, match="unknown"):
        default_builders(None, ["nope"])
    with pytest.raises(ValueError, match="needs the folder"):
        default_builders(None, ["taef2"])


@pytest.mark.shared_data  # TAEF2 weights (5.4 MB, ../shared/models) are not vendored: run with --shared-data
def test_taef2_reconstruction_is_close_but_not_identical():
    taesd = require(SHARED / "models" / "taesd" / "taef2_encoder.pth").parent
    (builder,) = default_builders(taesd, ["taef2"])
    assert builder.source == "taef2-recon"
    y, x = np.mgrid[0:64, 0:64]
    img = np.stack([(x * 4) % 256, (y * 4) % 256, ((x + y) * 2) % 256], -1).astype(np.uint8)
    out = builder(img)
    assert out.shape == img.shape
    err = np.abs(out.astype(int) - img).mean()
    assert 0.5 < err < 40  # a reconstruction: similar content, different pixels


def test_vae_reconstruction_builder_from_a_local_folder(tmp_path):
    # a tiny AutoencoderKL built from a config stands in for sd-vae-ft-mse (nothing is downloaded)
    torch = pytest.importorskip("torch")
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4,
                        layers_per_block=1, sample_size=32)
    vae.save_pretrained(tmp_path / "tiny-vae")
    (builder,) = default_builders(None, [f"vae:{tmp_path / 'tiny-vae'}"])
    assert builder.source == "vae-tiny-vae-recon"
    img = (np.random.default_rng(0).random((37, 50, 3)) * 255).astype(np.uint8)
    out = builder(img)
    assert out.shape == (36, 50, 3) and out.dtype == np.uint8  # cropped to the latent grid (factor 2)
    with pytest.raises(ValueError, match="AutoencoderKL"):
        default_builders(None, [f"vae:{tmp_path}"])


def test_parse_augment_spec():
    from forensics.datasets.augment import AugmentConfig, parse_augment

    cfg = parse_augment("jpeg_quality=30-100, blur_p=0.2,resize_scale=0.5-1.5")
    assert cfg.jpeg_quality == (30, 100) and cfg.blur_p == 0.2 and cfg.resize_scale == (0.5, 1.5)
    assert cfg.jpeg_p == AugmentConfig().jpeg_p  # untouched keys keep their defaults
    for bad in ("nope=1", "blur_p=2", "jpeg_quality=90-30", "jpeg_quality=a-b"):
        with pytest.raises(ValueError, match="--augment"):
            parse_augment(bad)
