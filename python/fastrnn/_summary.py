"""`model.summary()`: Keras 3's table layout (same columns, widths, names, shapes and counts).

Keras renders with `rich`; this draws the same box by hand: heavy header lines, a light rule
between rows, right-aligned parameter counts, then the Total/Trainable/Non-trainable (and
Optimizer, once built) lines with sizes in B/KB/MB. Falls back to ASCII box characters when
the output encoding cannot show the Unicode ones.
"""
import shutil
import sys
import textwrap

_UNICODE = {"ellipsis": "…", "top": "┏━┳┓", "head": "┃┃┃", "head_rule": "┡━╇┩", "row": "│││",
            "rule": "├─┼┤", "bottom": "└─┴┘"}
_ASCII = {"ellipsis": "...", "top": "+=++", "head": "|||", "head_rule": "+=++", "row": "|||",
          "rule": "+-++", "bottom": "+-++"}


def readable_memory_size(nbytes):
    units = ["B", "KB", "MB", "GB", "TB", "PB"]
    for unit in units:
        if nbytes / 1024 < 1:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} {units[-1]}"


def _column_widths(line_length, positions):
    """Column widths incl. padding, shrunk like rich does when the borders do not fit."""
    widths, current = [], 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width + 2)          # rich adds one space of padding on each side
        current += int(pos * line_length) - current
    available = line_length - (len(positions) + 1)
    excess = sum(widths) - available
    if excess > 0:                        # shrink evenly, rounding like Python's round()
        remaining, slots = excess, len(widths)
        for i in range(len(widths)):
            cut = min(widths[i], round(remaining / slots))
            widths[i] -= cut
            remaining -= cut
            slots -= 1
    return widths


def _cell_lines(text, width, ellipsis):
    """Greedy word wrap like rich's; a word longer than the cell is cut with an ellipsis
    (rich's default overflow), not broken across lines."""
    inner = width - 2
    words = [w if len(w) <= inner else w[:inner - len(ellipsis)] + ellipsis
             for w in text.split()]
    return textwrap.wrap(" ".join(words), inner, break_long_words=False,
                         break_on_hyphens=False) or [""]


def _render_row(cells, widths, aligns, box, ellipsis):
    wrapped = [_cell_lines(c, w, ellipsis) for c, w in zip(cells, widths)]
    height = max(len(w) for w in wrapped)
    out = []
    for i in range(height):
        parts = []
        for lines, w, align in zip(wrapped, widths, aligns):
            text = lines[i] if i < len(lines) else ""
            text = text.rjust(w - 2) if align == "right" else text.ljust(w - 2)
            parts.append(" " + text + " ")
        out.append(box[0] + box[1].join(parts) + box[2])
    return out


def _rule(widths, chars):
    left, fill, mid, right = chars
    return left + mid.join(fill * w for w in widths) + right


def format_shape(shape):
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def summary_lines(model, line_length=None, positions=None, unicode=True):
    rows, connected = model._summary_rows()
    if connected:   # a graph that is not a plain chain: Keras adds "Connected to"
        line_length = line_length or min(108, shutil.get_terminal_size().columns - 4)
        positions = positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        aligns = ["left", "left", "right", "left"]
    else:
        line_length = line_length or min(88, shutil.get_terminal_size().columns - 4)
        positions = positions or [0.45, 0.80, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
        aligns = ["left", "left", "right"]
    widths = _column_widths(line_length, positions)
    box = _UNICODE if unicode else _ASCII
    lines = [f'Model: "{model.name}"', _rule(widths, box["top"])]
    lines += _render_row(header, widths, aligns, box["head"], box["ellipsis"])
    lines.append(_rule(widths, box["head_rule"]))
    for i, (layer, shape, connections) in enumerate(rows):
        if layer.built:
            params = f"{layer.count_params():,}"
        else:
            params = "0 (unbuilt)"
        cells = [f"{layer.name} ({type(layer).__name__})", format_shape(shape), params]
        if connected:
            cells.append(", ".join(connections) or "-")
        lines += _render_row(cells, widths, aligns, box["row"], box["ellipsis"])
        if i + 1 < len(rows):
            lines.append(_rule(widths, box["rule"]))
    lines.append(_rule(widths, box["bottom"]))

    trainable = sum(w.size for w in model.trainable_weights)
    trainable_bytes = sum(w.nbytes for w in model.trainable_weights)
    non_trainable = sum(w.size for w in model.non_trainable_weights)
    non_trainable_bytes = sum(w.nbytes for w in model.non_trainable_weights)
    opt = getattr(model, "optimizer", None)
    opt_vars = opt.variables if (opt is not None and opt.built) else None
    opt_count = sum(v.size for v in opt_vars) if opt_vars else 0
    opt_bytes = sum(v.nbytes for v in opt_vars) if opt_vars else 0
    total = trainable + non_trainable + opt_count
    total_bytes = trainable_bytes + non_trainable_bytes + opt_bytes
    lines.append(f" Total params: {total:,} ({readable_memory_size(total_bytes)})")
    lines.append(f" Trainable params: {trainable:,} ({readable_memory_size(trainable_bytes)})")
    lines.append(f" Non-trainable params: {non_trainable:,} "
                 f"({readable_memory_size(non_trainable_bytes)})")
    if opt_vars:
        lines.append(f" Optimizer params: {opt_count:,} ({readable_memory_size(opt_bytes)})")
    return lines


def print_summary(model, line_length=None, positions=None, print_fn=None):
    stream = sys.stdout
    enc = getattr(stream, "encoding", None) or "ascii"
    try:
        "┏━┃│└".encode(enc)
        unicode = True
    except (UnicodeEncodeError, LookupError):
        unicode = False
    lines = summary_lines(model, line_length, positions, unicode=unicode or print_fn is not None)
    if print_fn is not None:
        print_fn("\n".join(lines))
        return
    stream.write("\n".join(lines) + "\n")
    stream.flush()
