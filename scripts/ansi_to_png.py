#!/usr/bin/env python3
"""Render a terminal capture (`tmux capture-pane -p -e`: text with SGR colour escapes) to a PNG.

    ansi_to_png.py capture.ansi out.png [--cols 120] [--rows 40]

Draws each cell with DejaVu Sans Mono (Debian's fonts-dejavu-core), falling back to DejaVu Sans
for glyphs the mono face lacks (Braille, used by ratatui's charts). Colours: the xterm palette
for the 16 ANSI colours, the 256-colour cube, and 24-bit colour.
"""

import argparse
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
BACKGROUND = (24, 24, 27)
FOREGROUND = (220, 220, 220)
ANSI = [
    (0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16),
    (36, 114, 200), (188, 63, 188), (17, 168, 205), (229, 229, 229),
    (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67),
    (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255),
]
SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def palette(n):
    if n < 16:
        return ANSI[n]
    if n < 232:
        n -= 16
        level = [0, 95, 135, 175, 215, 255]
        return level[n // 36], level[n // 6 % 6], level[n % 6]
    g = 8 + 10 * (n - 232)
    return g, g, g


class Style:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = self.bg = None
        self.bold = self.dim = self.reverse = False

    def apply(self, params):
        codes = [int(p) if p else 0 for p in re.split("[;:]", params)] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                self.reset()
            elif c == 1:
                self.bold = True
            elif c == 2:
                self.dim = True
            elif c == 22:
                self.bold = self.dim = False
            elif c == 7:
                self.reverse = True
            elif c == 27:
                self.reverse = False
            elif 30 <= c <= 37:
                self.fg = ANSI[c - 30]
            elif 90 <= c <= 97:
                self.fg = ANSI[c - 90 + 8]
            elif 40 <= c <= 47:
                self.bg = ANSI[c - 40]
            elif 100 <= c <= 107:
                self.bg = ANSI[c - 100 + 8]
            elif c == 39:
                self.fg = None
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    color, i = palette(codes[i + 2]), i + 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    color, i = tuple(codes[i + 2:i + 5]), i + 4
                else:
                    color = None
                if c == 38:
                    self.fg = color
                else:
                    self.bg = color
            i += 1

    def colors(self):
        fg, bg = self.fg or FOREGROUND, self.bg or BACKGROUND
        if self.reverse:
            fg, bg = bg, fg
        if self.dim:
            fg = tuple((a + b) // 2 for a, b in zip(fg, bg))
        return fg, bg


def parse(text, cols, rows):
    """Cells as (char, fg, bg, bold), `rows` lines of `cols`."""
    blank = (" ", FOREGROUND, BACKGROUND, False)
    grid = [[blank] * cols for _ in range(rows)]
    style = Style()
    for y, line in enumerate(text.split("\n")[:rows]):
        x, pos = 0, 0
        for m in SGR.finditer(line):
            for ch in line[pos:m.start()]:
                if x < cols:
                    fg, bg = style.colors()
                    grid[y][x] = (ch, fg, bg, style.bold)
                x += 1
            style.apply(m.group(1))
            pos = m.end()
        for ch in line[pos:]:
            if x < cols:
                fg, bg = style.colors()
                grid[y][x] = (ch, fg, bg, style.bold)
            x += 1
    return grid


def render(grid, size=16):
    mono = ImageFont.truetype(FONT_DIR + "DejaVuSansMono.ttf", size)
    bold = ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Bold.ttf", size)
    wide = ImageFont.truetype(FONT_DIR + "DejaVuSans.ttf", size)
    left, top, right, bottom = mono.getbbox("M")
    cw = round(mono.getlength("M"))
    ch = round(size * 1.25)
    rows, cols = len(grid), len(grid[0])
    image = Image.new("RGB", (cols * cw + 16, rows * ch + 16), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for y, row in enumerate(grid):
        for x, (c, fg, bg, is_bold) in enumerate(row):
            px, py = 8 + x * cw, 8 + y * ch
            if bg != BACKGROUND:
                draw.rectangle([px, py, px + cw - 1, py + ch - 1], fill=bg)
            if c == " ":
                continue
            if "\u2500" <= c <= "\u259f":
                box(draw, c, px, py, cw, ch, fg)
                continue
            font = bold if is_bold else mono
            if 0x2800 <= ord(c) <= 0x28FF:
                font = wide
            draw.text((px, py + (ch - size) // 2 - 1), c, font=font, fill=fg)
    return image


def box(draw, c, px, py, cw, ch, fg):
    """Box-drawing and block characters drawn as lines, so borders join across cells."""
    mx, my = px + cw // 2, py + ch // 2
    right, down = px + cw - 1, py + ch - 1
    segments = {
        "─": [(px, my, right, my)], "━": [(px, my, right, my)],
        "│": [(mx, py, mx, down)], "┃": [(mx, py, mx, down)],
        "┌": [(mx, my, right, my), (mx, my, mx, down)],
        "┐": [(px, my, mx, my), (mx, my, mx, down)],
        "└": [(mx, py, mx, my), (mx, my, right, my)],
        "┘": [(mx, py, mx, my), (px, my, mx, my)],
        "├": [(mx, py, mx, down), (mx, my, right, my)],
        "┤": [(mx, py, mx, down), (px, my, mx, my)],
        "┬": [(px, my, right, my), (mx, my, mx, down)],
        "┴": [(px, my, right, my), (mx, py, mx, my)],
        "┼": [(px, my, right, my), (mx, py, mx, down)],
    }
    if c in segments:
        for seg in segments[c]:
            draw.line(seg, fill=fg, width=1)
        return
    blocks = {"█": 1.0, "▓": 0.75, "▒": 0.5, "░": 0.25}
    if c in blocks:
        f = blocks[c]
        color = tuple(int(BACKGROUND[i] + f * (fg[i] - BACKGROUND[i])) for i in range(3))
        draw.rectangle([px, py, right, down], fill=color)
        return
    eighths = "▁▂▃▄▅▆▇"
    if c in eighths:
        h = (eighths.index(c) + 1) * ch // 8
        draw.rectangle([px, down - h + 1, right, down], fill=fg)
        return
    font = ImageFont.truetype(FONT_DIR + "DejaVuSansMono.ttf", 16)
    draw.text((px, py), c, font=font, fill=fg)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("capture")
    p.add_argument("png")
    p.add_argument("--cols", type=int, default=120)
    p.add_argument("--rows", type=int, default=40)
    a = p.parse_args()
    with open(a.capture, encoding="utf-8") as f:
        text = f.read()
    render(parse(text, a.cols, a.rows)).save(a.png, optimize=True)
    print(f"{a.png}: {a.cols}x{a.rows} cells", file=sys.stderr)


if __name__ == "__main__":
    main()
