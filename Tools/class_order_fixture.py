"""Writes Tests/Fixtures/class-orders/numpy_permutations.json: the class orders the
class-incremental benchmarks draw (np.random.seed(S); np.random.permutation(K), as PyCIL,
Continual-CLIP and MoE-Adapters do), for lamm-store's NumPyRandomState to match exactly.

Run from the package root with NumPy installed: python Tools/class_order_fixture.py
"""
import json
import pathlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
cases = [(1993, 100), (1993, 200), (1993, 10), (1993, 1000), (0, 7), (1, 50), (42, 1), (4294967295, 300)]
out = []
for seed, count in cases:
    np.random.seed(seed)
    out.append({"seed": seed, "classes": count, "permutation": np.random.permutation(count).tolist()})
path = ROOT / "Tests" / "Fixtures" / "class-orders" / "numpy_permutations.json"
path.write_text(json.dumps({"numpy": np.__version__, "cases": out}, separators=(",", ":")) + "\n")
print(f"wrote {path} (numpy {np.__version__})")
