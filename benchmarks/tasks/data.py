"""`data`: the config's Train DataLoader alone (its own batch size and workers), a full pass or
`--data-batches` batches; images/s = images delivered / elapsed time."""

from __future__ import annotations

import time

from benchmarks.common import BenchOptions, load_cfg

IMPL = "config Train DataLoader"


def measure(opts: BenchOptions) -> dict:
    from paddle_inception.data import build_dataloader

    cfg = load_cfg(opts.config)
    train_cfg = cfg["DataLoader"]["Train"]
    class_num = (cfg.get("Arch") or {}).get("class_num")
    t0 = time.perf_counter()
    loader = build_dataloader(train_cfg, "Train", class_num=class_num, seed=opts.seed)
    prepare = time.perf_counter() - t0
    total = len(loader)
    limit = min(opts.data_batches, total) if opts.data_batches else total
    images, times, shape = 0, [], None
    t_start = t = time.perf_counter()
    for i, (img, _label) in enumerate(loader):
        images += int(img.shape[0])
        shape = list(img.shape[1:])
        now = time.perf_counter()
        times.append(now - t)
        t = now
        if i + 1 >= limit:
            break
    elapsed = time.perf_counter() - t_start
    sampler = train_cfg.get("sampler") or {}
    workers = (train_cfg.get("loader") or {}).get("num_workers", 0)
    return {
        "times_s": times,
        "images": images,
        "elapsed_s": round(elapsed, 3),
        "images_per_s": images / elapsed if elapsed > 0 else None,
        "batch": sampler.get("batch_size"),
        "input": shape,
        "prepare_s": round(prepare, 2),
        "note": f"{'full pass' if limit == total else f'{limit} of {total} batches'}, "
        f"num_workers {workers}",
    }
