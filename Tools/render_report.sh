#!/usr/bin/env bash
# Renders a `lamm-store compare --html` page in headless Chromium (Debian: apt-get install chromium)
# and checks that it drew something: usage: Tools/render_report.sh REPORT.html [OUT.png]
# The page is self-contained, so the browser runs with no network.
set -euo pipefail
report=$(realpath "$1")
out=${2:-${report%.html}.png}
command -v chromium >/dev/null || { echo "render_report: chromium is not installed (apt-get install chromium)" >&2; exit 1; }
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1800 \
    --proxy-server="127.0.0.1:9" --screenshot="$out" "file://$report" >/dev/null 2>&1
python3 - "$out" <<'PY'
import sys, zlib, struct
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
# Count distinct colours in the first IDAT-decoded rows: a blank page has one.
pos, chunks = 8, b""
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    if kind == b"IDAT":
        chunks += data[pos + 8:pos + 8 + length]
    pos += 12 + length
raw = zlib.decompress(chunks)
print(f"{sys.argv[1]}: {len(data)} bytes, {len(set(raw[::97]))} distinct byte values sampled")
assert len(set(raw[::97])) > 8, "the page rendered blank"
PY
