"""Training and decoding throughput benchmark, side by side with Hugging Face MarianMT (docs/PERFORMANCE.md).

    python -m transformer_lab.benchmark --help

`workloads` builds both implementations with identical shapes and runs their training step and forced-length
beam search; `measure` times them (interleaved), counts FLOPs, activation memory and the peak matrix rate;
`cli` is the command line. `transformers` (the `bench` extra) is imported only when the peer is asked for.
"""
