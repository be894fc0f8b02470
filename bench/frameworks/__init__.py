"""One module per framework, each with `setup(threads)` and `Bench(cfg, data)`.

`Bench` builds what the configuration's modes need and exposes one zero-argument method
per mode (`train`, `infer`, `latency`) that runs one call, plus `info()`. The worker times
those methods; nothing here measures time except fastrnn's `overhead`.
"""
