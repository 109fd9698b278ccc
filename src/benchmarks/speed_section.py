"""The train step against the machine's matmul peak, and CPU settings against the default."""

from __future__ import annotations

import statistics

from src.benchmarks import train_speed
from src.benchmarks.cells import any_busy, loads_label, measured_on, timed_cell
from src.benchmarks.runner import Bench
from src.utils import machine as this_machine


def section_speed(bench: Bench, scope: dict) -> str:
    speed = bench.speed(scope["speed"])
    compared, peaks = speed["compared"], speed["peak_gflops"]
    peak = max(p["gflops"] for p in peaks)
    base = compared["baseline"]
    noise = train_speed.noise_of(compared)
    ips = statistics.median(base["images_per_s"])
    gflops = ips * base["flops_per_image"] / 1e9
    base_busy = any_busy(*base["loads"])
    headline = (f"**{gflops:.0f} GFLOP/s, {gflops / peak:.0%} of the matmul peak**"
                if not (base_busy or any_busy(*(p["load"] for p in peaks))) else
                f"{gflops:.0f} GFLOP/s (a busy timing: not set against the peak)")
    lines = [
        "## The train step against this machine's limit", "",
        f"Measured {measured_on(bench.record('speed.json'))} on {speed['platform']}. Each timing "
        "below is quiet unless marked: busy means other processes used more than "
        f"{this_machine.BUSY_CORES} cores meanwhile, and no verdict is drawn from it.", "",
        f"float32 matrix product (numpy, {speed['machine']['cores']} cores, 2048x2048, "
        "best of 7), before and after the rest: "
        f"{' and '.join(timed_cell(p['gflops'], p['load']) for p in peaks)} "
        f"GFLOP/s. The default CNN's train step: {base['flops_per_image'] / 1e6:.0f} MFLOP a "
        f"training image (convolutions and dense layers, 3x their forward cost; "
        f"`src/benchmarks/train_speed.py`), {ips:.0f} images/s at {base['threads']} threads "
        f"({loads_label(base['loads'])}), so {headline}.", "",
        f"Each setting below ran in a fresh process on {speed['images']:,} training images "
        f"({speed['epochs']} timed epoch(s) after a warm-up epoch), all in turn, "
        f"{speed['rounds']} round(s); a ratio is the setting's images/s over the default's "
        "of the same round (above 1: faster). "
        + ("A row marked *timed* came later, when an ensemble member's net joined: that net "
           "and the default ran in turn on the same kind of machine, and its images/s and "
           "ratios are of that later run. " if any("timed_later" in r for r in compared.values())
           else "")
        + (f"The noise was {noise:.0%} (the larger of the default's own spread between rounds "
           "of any run here and the widest gap between one setting's ratios in two rounds"
           + ("; the A/A row is the default against itself" if any(
               r["setting"].get("control") for r in compared.values()) else "")
           + "): a setting is called faster or slower only when every round's ratio is beyond "
           "that." if noise is not None else
           "One round measures no spread, so nothing below is judged."), "",
        "| setting | images/s | ratio to the default (each round) | load | verdict |",
        "|---|---|---|---|---|",
        f"| default (`model=cnn`) | {ips:.0f} | 1 | {loads_label(base['loads'])} | |"]
    ranked = sorted(((name, r) for name, r in compared.items() if name != "baseline"),
                    key=lambda item: -statistics.median(item[1]["ratios"]))
    for name, r in ranked:
        what = "" if name.startswith("model=") else " ".join(  # a net's name is its overrides
            [*r["setting"].get("overrides", []),
             *(f"{k}={v}" for k, v in r["setting"].get("env", {}).items())])
        later = r.get("timed_later")
        when = (f", *timed {later['measured_at'][:10]}* in turn with the default at "
                f"{statistics.median(later['baseline_images_per_s']):.0f} images/s "
                f"({loads_label(later['baseline_loads'])})" if later else "")
        lines.append(f"| {name}{f' (`{what}`)' if what else ''}{when} "
                     f"| {statistics.median(r['images_per_s']):.0f} "
                     f"| {', '.join(f'{x:.2f}' for x in r['ratios'])} "
                     f"| {loads_label(r['loads'])} "
                     f"| {train_speed.verdict(r['ratios'], noise, r['busy'])} |")
    same_math = [(n, r) for n, r in ranked if not n.startswith("model=")
                 and r["setting"].get("same_math", True) and not r["setting"].get("control")]
    judged = [(n, r) for n, r in same_math if not any(r["busy"])]
    faster = [(n, r) for n, r in judged
              if train_speed.verdict(r["ratios"], noise, r["busy"]) == "faster"]
    best, r = (faster or judged or same_math)[0]
    if noise is None:
        conclusion = (f"One round: no verdict (the best median was {best} at "
                      f"{statistics.median(r['ratios']):.2f}x).")
    elif not judged:
        conclusion = "Every setting had a busy round: no verdict."
    elif faster:
        conclusion = (f"Faster than the default beyond this run's noise, with the same math: "
                      f"{best} ({statistics.median(r['ratios']):.2f}x).")
    else:
        conclusion = (f"No setting with the same math beat the default beyond this run's "
                      f"noise in its quiet rounds; the best median was {best} at "
                      f"{statistics.median(r['ratios']):.2f}x.")
    if judged and len(judged) < len(same_math):
        conclusion += (f" Not judged, measured busy: "
                       f"{', '.join(n for n, r in same_math if any(r['busy']))}.")
    xla = speed["xla_ratios"]
    lines += ["", conclusion, "",
              f"XLA (`trainer.jit_compile=true`), {len(xla['ratios'])} off/on pair(s) run back "
              f"to back, on/off images/s: {', '.join(f'{x:.2f}' for x in xla['ratios'])}: "
              f"**{_xla_verdict(xla, noise)}** on this machine.", ""]
    return "\n".join(lines)




def _xla_verdict(xla: dict, noise: float | None) -> str:
    said = train_speed.verdict(xla["ratios"], noise, xla["busy"])
    if said in ("faster", "slower"):
        return f"{said} in every pair ({statistics.median(xla['ratios']):.2f}x)"
    return "no difference beyond the noise" if said == "within noise" else said
