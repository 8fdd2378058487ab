#!/usr/bin/env python3
"""Reads a run directory's TensorBoard event files with TensorBoard's own reader and checks
that every scalar equals the matching value in metrics.jsonl (as float32).

    python3 tools/check_tfevents.py runs/demo/cnn-ideal

Needs the `tensorboard` Python package (pip install tensorboard). Exits non-zero on a mismatch.
"""
import json
import math
import struct
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    run = sys.argv[1]
    acc = EventAccumulator(run, size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    if not tags:
        sys.exit(f"error: no scalars in TensorBoard event files under {run}")
    expected = {}
    with open(f"{run}/metrics.jsonl") as f:
        for line in f:
            rec = json.loads(line)
            step = rec.get("step")
            if step is None:
                continue
            for k, v in rec.items():
                if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                    expected[(k, int(step))] = f32(float(v))
    checked = 0
    for tag in tags:
        for ev in acc.Scalars(tag):
            want = expected.get((tag, ev.step))
            if want is None:
                sys.exit(f"error: {tag} at step {ev.step} is not in metrics.jsonl")
            same = (math.isnan(want) and math.isnan(ev.value)) or want == ev.value
            if not same:
                sys.exit(f"error: {tag} at step {ev.step}: events {ev.value!r} vs jsonl {want!r}")
            checked += 1
    missing = len(expected) - checked
    print(f"check_tfevents: {checked} scalars in {len(tags)} tags read back exactly"
          f" ({missing} jsonl values not logged as scalars)")
    if missing:
        sys.exit(1)


if __name__ == "__main__":
    main()
