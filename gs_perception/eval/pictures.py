"""Pictures people look at: ground truth | render | error strips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def comparison_strip(
    gt: torch.Tensor, pred: torch.Tensor, scale: int = 4, error_gain: float = 4.0
) -> np.ndarray:
    """Side-by-side ground truth, render and amplified absolute error (black = exact).

    Args:
        gt, pred: [H, W, 3] images in [0, 1].
        scale: Nearest-neighbour upscaling so small renders stay legible.
        error_gain: Multiplier on |gt - pred| before clipping to [0, 1].

    Returns:
        [H·scale, 3·W·scale, 3] uint8 image.
    """
    err = ((gt - pred).abs().mean(dim=-1, keepdim=True) * error_gain).clamp(0, 1).expand_as(gt)
    strip = torch.cat([gt.clamp(0, 1), pred.clamp(0, 1), err], dim=1)
    img = (strip.detach().cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)


def save_comparisons(
    gt: torch.Tensor, pred: torch.Tensor, out_dir: str | Path, prefix: str = "view"
) -> list[Path]:
    """Write one comparison strip PNG per view. gt, pred: [V, H, W, 3]. Returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (g, p) in enumerate(zip(gt, pred)):
        path = out_dir / f"{prefix}_{i:03d}.png"
        Image.fromarray(comparison_strip(g, p)).save(path)
        paths.append(path)
    return paths


def labelled_panels(
    panels: list[torch.Tensor], captions: list[str], path: str | Path, scale: int = 2
) -> Path:
    """Images side by side, each with a caption strip above it (the demo's input | memory | prediction).

    Args:
        panels: [H, W, 3] images in [0, 1]; resized (nearest) to the first one's height.
        captions: One line of text per panel.
        path: Output PNG.
        scale: Nearest-neighbour upscaling of the whole picture.

    Returns:
        ``path``.
    """
    from PIL import ImageDraw

    height = panels[0].shape[0]
    tiles = []
    for panel, caption in zip(panels, captions):
        img = Image.fromarray((panel.detach().cpu().clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8))
        if img.height != height:
            img = img.resize((round(img.width * height / img.height), height), Image.NEAREST)
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
        tile = Image.new("RGB", (img.width, img.height + 18), "white")
        tile.paste(img, (0, 18))
        ImageDraw.Draw(tile).text((4, 3), caption, fill="black")
        tiles.append(tile)
    out = Image.new("RGB", (sum(t.width for t in tiles) + 4 * (len(tiles) - 1), tiles[0].height), "white")
    x = 0
    for tile in tiles:
        out.paste(tile, (x, 0))
        x += tile.width + 4
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.save(path)
    return path


def comparison_sheet(
    pairs: list[tuple[torch.Tensor, torch.Tensor]],
    captions: list[str],
    path: str | Path,
    panel_width: int = 256,
    titles: tuple[str, str, str] = ("input", "render", "error x4"),
) -> Path:
    """Comparison strips (ground truth | render | error ×4) stacked one under another: a header naming the
    three panels, then each strip under its caption.

    Args:
        pairs: (ground truth, render) [H, W, 3] images in [0, 1]; sizes may differ between pairs.
        captions: One line of text per pair.
        path: Output PNG.
        panel_width: Each panel is scaled to about this width (integer nearest upscaling for small images, so
            pixels stay visible; area downscaling for large ones, so the sheet stays a few megabytes).
        titles: The header above the three panels.

    Returns:
        ``path``.
    """
    from PIL import ImageDraw, ImageFont

    if not pairs or len(pairs) != len(captions):
        raise ValueError(f"need one caption per pair and at least one pair, got {len(pairs)}/{len(captions)}")
    font = ImageFont.load_default(size=14)  # Pillow's bundled font; the bitmap fallback is too small to read
    strips = []
    for gt, pred in pairs:
        width = gt.shape[1]
        strip = Image.fromarray(comparison_strip(gt, pred, scale=max(1, panel_width // width)))
        if width > panel_width:
            strip = strip.resize((3 * panel_width, round(strip.height * panel_width / width)), Image.BOX)
        strips.append(strip)
    bar, gap = 22, 4
    sheet_width = max(strip.width for strip in strips)
    sheet = Image.new("RGB", (sheet_width, bar + sum(bar + s.height + gap for s in strips) - gap), "white")
    draw = ImageDraw.Draw(sheet)
    for k, title in enumerate(titles):  # panel titles once, over the first strip's panels
        draw.text((k * strips[0].width // 3 + 4, 3), title, fill="black", font=font)
    y = bar
    for strip, caption in zip(strips, captions):
        draw.text((4, y + 3), caption, fill="dimgray", font=font)
        sheet.paste(strip, (0, y + bar))
        y += bar + strip.height + gap
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def image_grid(
    rows: list[list[torch.Tensor]],
    column_titles: list[str],
    row_titles: list[str],
    path: str | Path,
    scale: int = 2,
) -> Path:
    """Equal-sized images in a grid: a title over each column, and each row under its own caption line.

    Args:
        rows: Per row, [H, W, 3] images in [0, 1], all of one size and as many as ``column_titles``.
        column_titles: One short title per column.
        row_titles: One caption per row.
        path: Output PNG.
        scale: Nearest-neighbour upscaling, so small renders stay legible.

    Returns:
        ``path``.
    """
    from PIL import ImageDraw, ImageFont

    if not rows or len(rows) != len(row_titles) or any(len(r) != len(column_titles) for r in rows):
        raise ValueError("need one title per row and per column, and at least one row")
    font = ImageFont.load_default(size=12)
    h, w = rows[0][0].shape[0] * scale, rows[0][0].shape[1] * scale
    bar, gap = 18, 2
    sheet = Image.new("RGB", (len(column_titles) * (w + gap), bar + len(rows) * (bar + h + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, title in enumerate(column_titles):
        draw.text((k * (w + gap) + 2, 3), title, fill="black", font=font)
    for r, (images, caption) in enumerate(zip(rows, row_titles)):
        y = bar + r * (bar + h + gap)
        draw.text((2, y + 3), caption, fill="dimgray", font=font)
        for k, image in enumerate(images):
            pixels = (image.detach().cpu().clamp(0, 1).numpy() * 255.0 + 0.5).astype(np.uint8)
            tile = Image.fromarray(pixels).resize((w, h), Image.NEAREST)
            sheet.paste(tile, (k * (w + gap), y + bar))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
