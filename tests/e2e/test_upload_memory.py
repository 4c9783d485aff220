"""A 200 MB upload through the ``file`` provisioner keeps memory flat.

The ``file`` provisioner runs in the core; the machine is the
``bakehouse-plugin-localdir`` builder's directory in another process, so the
file crosses the RPC pipes as a stream. The peak resident set (``VmHWM``) of
every process of the run is sampled while it runs; their sum must stay under
150 MB (a buffered upload alone would exceed it).
"""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
import uuid

from tests.fixtures.processes import peak_rss_kib, run_processes
from tests.support import bakehouse_exe

SIZE = 200 * 1024 * 1024
LIMIT_KIB = 150 * 1024


def test_200mb_upload_keeps_summed_peak_rss_under_150mb(tmp_path, localdir_plugin):
    payload = tmp_path / "payload.bin"
    with open(payload, "wb") as fh:
        block = os.urandom(1024 * 1024)
        for _ in range(SIZE // len(block)):
            fh.write(block)
    out_dir = tmp_path / "machine-copy"
    (tmp_path / "t.pkr.hcl").write_text(
        textwrap.dedent(f"""
        source "localdir" "big" {{}}
        build {{
          sources = ["source.localdir.big"]
          provisioner "file" {{
            source      = "{payload}"
            destination = "payload.bin"
          }}
          provisioner "file" {{
            direction   = "download"
            source      = "payload.bin"
            destination = "{out_dir}/"
          }}
        }}
        """)
    )
    # Discovery runs `describe` probes on a cold cache; do that once first so
    # the measured run only has the processes of the build itself.
    warm = subprocess.run(
        [bakehouse_exe(), "validate", "t.pkr.hcl"], cwd=tmp_path, capture_output=True, text=True
    )
    assert warm.returncode == 0, warm.stdout + warm.stderr
    run_id = "upload-" + uuid.uuid4().hex[:12]
    proc = subprocess.Popen(
        [bakehouse_exe(), "build", "t.pkr.hcl"],
        cwd=tmp_path,
        env=dict(os.environ, BAKEHOUSE_RUN_ID=run_id),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peaks: dict[int, int] = {}
    while proc.poll() is None:
        for pid in [proc.pid, *run_processes(run_id)]:
            try:
                peaks[pid] = max(peaks.get(pid, 0), peak_rss_kib(pid))
            except (OSError, ValueError):
                pass
        time.sleep(0.05)
    out, err = proc.communicate()
    assert proc.returncode == 0, out + err
    # The upload really happened, both ways, byte for byte.
    downloaded = out_dir / "payload.bin"
    assert downloaded.stat().st_size == SIZE
    with open(payload, "rb") as a, open(downloaded, "rb") as b:
        while True:
            x, y = a.read(1 << 20), b.read(1 << 20)
            assert x == y
            if not x:
                break
    assert len(peaks) >= 3, peaks  # supervisor, worker, the localdir plugin
    total = sum(peaks.values())
    print(
        f"summed peak RSS of {len(peaks)} processes: {total / 1024:.1f} MiB; per process (KiB): {peaks}"
    )
    assert total < LIMIT_KIB, f"summed peak RSS {total / 1024:.1f} MiB >= 150 MiB: {peaks}"
