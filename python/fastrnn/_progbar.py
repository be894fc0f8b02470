"""Keras 3's progress bar, reproduced: ` 12/40 ━━━━━━━━━━━━━━━━━━━━ 3s 80ms/step - loss: 0.65`.

verbose=1 redraws one line in place with '\\r' (throttled to every `interval` seconds) and ends
it with a newline; verbose=2 prints one line when finished. The bar uses '━' when the output
encoding can show it, '=' otherwise; ANSI styling only when writing to a terminal.
"""
import math
import sys
import time


def _stream():
    return sys.stdout


def _can_encode(stream, text):
    enc = getattr(stream, "encoding", None) or "ascii"
    try:
        text.encode(enc)
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def _write(text):
    stream = _stream()
    try:
        stream.write(text)
    except UnicodeEncodeError:
        stream.write(text.replace("━", "=").encode("ascii", "replace").decode("ascii"))
    stream.flush()


def format_value(v):
    if isinstance(v, float) or hasattr(v, "dtype"):
        v = float(v)
        return f"{v:.4f}" if abs(v) > 1e-3 else f"{v:.4e}"
    return str(v)


class Progbar:
    def __init__(self, target, width=20, verbose=1, interval=0.05, unit_name="step"):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self._values = {}
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._prev_width = 0
        stream = _stream()
        self._ansi = bool(getattr(stream, "isatty", lambda: False)())
        self._bar_char = "━" if _can_encode(stream, "━") else "="

    def _step_duration(self, current, now):
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per = (now - self._time_after_first_step) / (current - 1)
        else:
            per = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per

    @staticmethod
    def _format_time(per_unit, unit):
        if per_unit >= 1 or per_unit == 0:
            return f" {per_unit:.0f}s/{unit}"
        if per_unit >= 1e-3:
            return f" {per_unit * 1e3:.0f}ms/{unit}"
        return f" {per_unit * 1e6:.0f}us/{unit}"

    def _style(self, text, code):
        return f"\x1b[{code}m{text}\x1b[0m" if self._ansi else text

    def update(self, current, values=None, finalize=None):
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for k, v in (values or []):
            self._values[k] = v
        now = time.time()
        per_unit = self._step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._last_update = now
            if self.target:
                digits = int(math.log10(self.target)) + 1
                count = f"%{digits}d/%d" % (current, self.target)
                done = int(self.width * min(current, self.target) / self.target)
                fill = "." if self._bar_char == "=" else self._bar_char
                bar = (self._style(count, "1") + " " +
                       (self._style(self._bar_char * done, "32") if done else "") +
                       self._style(fill * (self.width - done), "37"))
                plain = len(count) + 1 + self.width
            else:
                bar = "%7d/Unknown" % current
                plain = len(bar)
            if self.target and not finalize:
                eta = per_unit * (self.target - current)
                if eta > 3600:
                    eta_s = "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
                elif eta > 60:
                    eta_s = "%d:%02d" % (eta // 60, eta % 60)
                else:
                    eta_s = "%ds" % eta
            else:
                eta_s = f"{now - self._start:.0f}s"
            info = " " + self._style(eta_s, "1") + self._format_time(per_unit, self.unit_name)
            plain += 1 + len(eta_s) + len(self._format_time(per_unit, self.unit_name))
            for k, v in self._values.items():
                piece = f" - {k}: {format_value(v)}"
                info += piece
                plain += len(piece)
            pad = " " * max(0, self._prev_width - plain)
            self._prev_width = plain
            _write("\r" + bar + info + pad + ("\n" if finalize else ""))
        elif self.verbose == 2 and finalize and self.target:
            digits = int(math.log10(self.target)) + 1
            line = f"%{digits}d/%d" % (current, self.target)
            line += f" - {now - self._start:.0f}s -" + self._format_time(per_unit, self.unit_name)
            for k, v in self._values.items():
                line += f" - {k}: {format_value(v)}"
            _write(line + "\n")
