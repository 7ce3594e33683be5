"""glassnet's benchmark suite: training speed and memory against PyTorch, scikit-learn, a hand-written
NumPy loop and the GEMM floor. Run it with ``python -m benchmarks`` (``--help`` lists the options)."""
