print("lamm-bench: no benchmarks yet")
