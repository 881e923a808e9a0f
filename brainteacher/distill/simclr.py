"""SimCLR pretraining of a student's backbone on unlabelled images (Chen et al., ICML 2020).

Two augmented views of each image (random resized crop, flip, colour jitter) go through the
student's backbone (``features``: everything but its classifier) and a 2-layer projection head;
the NT-Xent loss pulls each image's two views together against the other 2N - 2 views of the
batch. The head is dropped afterwards: ``backbone.pt`` holds the backbone only (the student's
state_dict without ``fc.*``), which ``distill --init simclr --init-checkpoint`` loads.

What it may see: the split's *training* images, and on simulated data extra unlabelled renders of
the simulated world (new images, never in any split). Never the split's held-out images, never the
evaluation set: without an image cache only the training images' files are opened, and with one
only their rows are taken. One checkpoint per split serves every student of that split.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainteacher.configs import SimCLRConfig
from brainteacher.data import god
from brainteacher.data.images import augment, channel_stats, load_image_cache, normalise
from brainteacher.data.splits import read_split
from brainteacher.nn.archs import build_student
from brainteacher.nn.train import pick_device, seed_everything
from brainteacher.outputs import atomic_dir, provenance, read_json, save_npy, write_json

__all__ = [
    "SimCLRConfig",
    "nt_xent",
    "colour_jitter",
    "unlabelled_images",
    "extra_renders",
    "pretrain_simclr",
    "BACKBONE_FILE",
]

log = logging.getLogger(__name__)

BACKBONE_FILE = "backbone.pt"


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over a batch of N pairs: (N, D), (N, D) projections -> scalar (nats).

    With the 2N L2-normalised rows u, each row i's positive is its other view and its negatives
    the other 2N - 2 rows: loss_i = -log exp(u_i.u_p / t) / sum_{k != i} exp(u_i.u_k / t),
    averaged over all 2N rows."""
    if z1.shape != z2.shape or z1.ndim != 2 or len(z1) < 2:
        raise ValueError(f"need two (N, D) batches with N >= 2, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    n = len(z1)
    u = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = u @ u.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=u.device), float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(u.device)
    return F.cross_entropy(sim, positive)


def colour_jitter(x: torch.Tensor, generator: torch.Generator, strength: float = 0.4) -> torch.Tensor:
    """Per-image brightness shift, contrast scale and per-channel gain on a normalised batch
    (B, 3, H, W): SimCLR's colour distortion, which stops the views agreeing on colour alone."""
    b = x.shape[0]
    r = torch.rand(b, 5, generator=generator).to(x.device, x.dtype) * 2 - 1
    brightness = strength * r[:, 0].view(b, 1, 1, 1)
    contrast = (1 + strength * r[:, 1]).view(b, 1, 1, 1)
    gain = (1 + 0.5 * strength * r[:, 2:5]).view(b, 3, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast * gain + mean + brightness


def extra_renders(root: str | Path, per_category: int, size: int, seed: int) -> np.ndarray:
    """(C * per_category, 3, size, size) uint8 new, unlabelled renders of a simulated dataset's
    world (its categories' shapes, hues and groups from ``ground_truth.json``); empty for a
    dataset without one (real data). The ground truth does not record the categories' aspect and
    texture, so those are drawn afresh from the simulator's ranges: same visual vocabulary, new
    images, in no split."""
    from PIL import Image

    from brainteacher.data.render import Category, Look, draw_style, render

    truth = Path(root) / "ground_truth.json"
    if per_category == 0 or not truth.is_file():
        return np.zeros((0, 3, size, size), np.uint8)
    record = read_json(truth)
    rng = np.random.default_rng([seed, 14])  # its own stream: renders never repeat a dataset image's noise
    cats = [Category(int(c["group"]), c["shape"], float(c["hue"]), **draw_style(rng)) for c in record["categories"]]
    render_size = int(record["preset"]["image_size"])
    out = []
    for c in range(len(cats)):
        for _ in range(per_category):
            img = render(cats, Look(np.array([c]), np.array([1.0])), render_size, rng)
            pil = Image.fromarray(np.round(img * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)
            out.append(np.asarray(pil, np.uint8).transpose(2, 0, 1))
    return np.stack(out)


def unlabelled_images(
    root: str | Path,
    split_spec: str | Path,
    size: int,
    *,
    cache: str | Path | None = None,
    extra_per_category: int = 0,
    seed: int = 0,
) -> tuple[np.ndarray, tuple[str, ...], int]:
    """The pretraining set: (n, 3, size, size) uint8, the names of the split's training images
    among them, and the number of extra renders appended. Without ``cache`` only the training
    images' files are opened; with one (every training image in TSV order) only their rows are used."""
    layout = god.GODLayout.from_root(root)
    table = god.read_stimulus_tsv(layout.training_tsv)
    split = read_split(split_spec, table.names)
    names = np.asarray(table.names)
    rows = np.flatnonzero(np.isin(names, split.train))
    if cache is not None:
        images = load_image_cache(god.image_paths(layout.image_dir, table.names), size, Path(cache))[rows]
    else:
        images = load_image_cache(god.image_paths(layout.image_dir, tuple(names[rows])), size)
    extra = extra_renders(root, extra_per_category, size, seed)
    return np.concatenate([images, extra]), tuple(names[rows]), len(extra)


class _Projector(nn.Module):
    """Backbone features -> a 2-layer MLP projection (SimCLR's head g, dropped after pretraining)."""

    def __init__(self, backbone: nn.Module, dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        features = backbone.fc.in_features
        self.head = nn.Sequential(nn.Linear(features, features), nn.ReLU(inplace=True), nn.Linear(features, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.features(x))


def _train(model: _Projector, x: torch.Tensor, cfg: SimCLRConfig, generator: torch.Generator) -> list[float]:
    """``cfg.steps`` NT-Xent steps on random batches of ``x`` (normalised, on the device); cosine lr."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    batch = min(cfg.batch_size, len(x))
    losses = []
    model.train()
    for step in range(cfg.steps):
        idx = torch.randperm(len(x), generator=generator)[:batch].to(x.device)
        views = [colour_jitter(augment(x[idx], generator), generator) for _ in range(2)]
        loss = nt_xent(model(views[0]), model(views[1]), cfg.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0 or step + 1 == cfg.steps:
            log.info("simclr step %d/%d NT-Xent %.4f", step + 1, cfg.steps, float(np.mean(losses[-50:])))
    return losses


def pretrain_simclr(
    root: str | Path,
    split_spec: str | Path,
    out: str | Path,
    cfg: SimCLRConfig,
    *,
    image_cache: str | Path | None = None,
) -> dict:
    """Pretrain a student backbone with SimCLR on the split's training images (+ simulated extra
    renders) and write, atomically into ``out``: ``backbone.pt`` (state_dict without ``fc``),
    ``image_ids.npy`` (the split images it saw) and ``metrics.json`` (loss curve, counts, time,
    provenance). Returns the metrics."""
    t0 = time.perf_counter()
    images, ids, n_extra = unlabelled_images(
        root, split_spec, cfg.image_size, cache=image_cache, extra_per_category=cfg.extra_per_category, seed=cfg.seed
    )
    device = pick_device(cfg.device)
    generator = seed_everything(cfg.seed)
    backbone = build_student(
        cfg.arch, 2, depth=cfg.depth, width=cfg.width, stem=cfg.stem
    )  # fc is a placeholder, never saved
    model = _Projector(backbone, cfg.projection_dim).to(device)
    x = normalise(torch.from_numpy(images).to(device), *channel_stats(images))
    log.info(
        "SimCLR %s backbone on %d unlabelled images (%d split training images + %d extra renders), %d steps, on %s",
        cfg.arch,
        len(images),
        len(ids),
        n_extra,
        cfg.steps,
        device,
    )
    losses = _train(model, x, cfg, generator)
    metrics = {
        "split": Path(str(split_spec)).stem,
        "n_images": len(images),
        "n_split_training_images": len(ids),
        "n_extra_renders": n_extra,
        "loss_first_50": float(np.mean(losses[:50])),
        "loss_last_50": float(np.mean(losses[-50:])),
        "chance_loss": float(np.log(2 * min(cfg.batch_size, len(images)) - 1)),
        "wall_time_s": None,
        "device": str(device),
        **provenance({"root": str(root), "split": str(split_spec), "simclr": asdict(cfg)}, cfg.seed),
    }
    state = {k: v.detach().cpu() for k, v in backbone.state_dict().items() if not k.startswith("fc.")}
    with atomic_dir(out) as tmp:
        torch.save(state, tmp / BACKBONE_FILE)
        save_npy(tmp / "image_ids.npy", np.asarray(ids))
        save_npy(tmp / "loss.npy", np.asarray(losses, np.float32))
        metrics["wall_time_s"] = round(time.perf_counter() - t0, 3)
        write_json(tmp / "metrics.json", metrics)
    log.info(
        "SimCLR NT-Xent %.3f -> %.3f (chance %.3f) in %.0f s",
        metrics["loss_first_50"],
        metrics["loss_last_50"],
        metrics["chance_loss"],
        metrics["wall_time_s"],
    )
    return metrics
