"""The built-in components, driven directly through the SDK interface."""

import hashlib
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from bakehouse.builtin.registry import BUILTINS
from bakehouse.sdk import BuildInfo, Communicator, ConfigError, Context, NullUi, SimpleArtifact
from bakehouse.testing import FakeUi

INFO = BuildInfo(name="app", builder_type="null", build_name="null.app", run_id="run-1")


class DirectoryCommunicator(Communicator):
    """A machine whose filesystem is a local directory (paths are relative to it)."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, remote: str) -> Path:
        return self.root / remote.lstrip("/")

    def execute(self, command, *, on_stdout, on_stderr, ctx, stdin=None):
        raise NotImplementedError

    def upload(self, dst, src, info=None):
        path = self._path(dst)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            shutil.copyfileobj(src, fh)

    def download(self, src, dst):
        with open(self._path(src), "rb") as fh:
            shutil.copyfileobj(fh, dst)

    def upload_dir(self, dst, src, exclude=()):
        target = self._path(dst)
        if not src.endswith("/"):
            target = target / os.path.basename(src.rstrip("/"))
        shutil.copytree(src, target, dirs_exist_ok=True)

    def download_dir(self, src, dst, exclude=()):
        shutil.copytree(self._path(src), dst, dirs_exist_ok=True)


def make(kind, type_, config):
    component = BUILTINS[kind][type_]()
    component.prepare(config, INFO)
    return component


def test_registry_lists_the_builtins():
    assert set(BUILTINS["builder"]) == {"null", "file"}
    assert set(BUILTINS["provisioner"]) == {"file", "sleep", "breakpoint"}
    assert set(BUILTINS["post-processor"]) == {"manifest", "checksum", "compress", "artifice"}


def test_file_builder_content_and_source(tmp_path):
    target = tmp_path / "out" / "a.txt"
    artifact = make("builder", "file", {"content": "hello", "target": str(target)}).run(
        NullUi(), None, Context()
    )
    assert target.read_text() == "hello"
    assert artifact.files == [str(target)] and artifact.builder_id == "packer.file"
    copy = tmp_path / "b.txt"
    make("builder", "file", {"source": str(target), "target": str(copy)}).run(
        NullUi(), None, Context()
    )
    assert copy.read_text() == "hello"
    artifact.destroy()
    assert not target.exists()


def test_file_builder_rejects_both_or_neither():
    with pytest.raises(ConfigError):
        make("builder", "file", {"target": "x"})
    with pytest.raises(ConfigError):
        make("builder", "file", {"target": "x", "content": "a", "source": "b"})


def test_file_provisioner_uploads_file_content_sources_and_directories(tmp_path):
    machine = tmp_path / "machine"
    machine.mkdir()
    comm = DirectoryCommunicator(machine)
    local = tmp_path / "local"
    (local / "dir" / "sub").mkdir(parents=True)
    (local / "one.txt").write_text("1")
    (local / "two.txt").write_text("2")
    (local / "dir" / "sub" / "deep.txt").write_text("deep")

    ui = FakeUi()
    make(
        "provisioner", "file", {"source": str(local / "one.txt"), "destination": "/etc/one"}
    ).provision(ui, comm, {}, Context())
    assert ui.transfers == {"Uploading one.txt": (1, 1)}  # byte progress, ending complete
    make("provisioner", "file", {"content": "inline", "destination": "/etc/c"}).provision(
        NullUi(), comm, {}, Context()
    )
    make(
        "provisioner",
        "file",
        {"sources": [str(local / "one.txt"), str(local / "two.txt")], "destination": "/many/"},
    ).provision(NullUi(), comm, {}, Context())
    make("provisioner", "file", {"source": str(local / "dir"), "destination": "/d1"}).provision(
        NullUi(), comm, {}, Context()
    )
    make(
        "provisioner", "file", {"source": str(local / "dir") + "/", "destination": "/d2"}
    ).provision(NullUi(), comm, {}, Context())

    assert (machine / "etc/one").read_text() == "1"
    assert (machine / "etc/c").read_text() == "inline"
    assert (machine / "many/one.txt").read_text() == "1" and (
        machine / "many/two.txt"
    ).read_text() == "2"
    assert (machine / "d1/dir/sub/deep.txt").read_text() == "deep"
    assert (machine / "d2/sub/deep.txt").read_text() == "deep"


def test_file_provisioner_downloads(tmp_path):
    machine = tmp_path / "machine"
    (machine / "var/log").mkdir(parents=True)
    (machine / "var/log/app.log").write_text("log")
    comm = DirectoryCommunicator(machine)
    dest = tmp_path / "got"
    ui = FakeUi()
    make(
        "provisioner",
        "file",
        {"source": "/var/log/app.log", "destination": str(dest) + "/", "direction": "download"},
    ).provision(ui, comm, {}, Context())
    assert (dest / "app.log").read_text() == "log"
    assert ui.transfers == {"Downloading app.log": (3, 3)}  # byte progress, ending complete
    make(
        "provisioner",
        "file",
        {"source": "/var/log/", "destination": str(tmp_path / "logs"), "direction": "download"},
    ).provision(NullUi(), comm, {}, Context())
    assert (tmp_path / "logs/app.log").read_text() == "log"


def test_file_provisioner_errors(tmp_path):
    with pytest.raises(ConfigError) as info:
        make("provisioner", "file", {"source": str(tmp_path / "missing"), "destination": "/x"})
    assert info.value.problems[0].path == ("source",)
    make(
        "provisioner",
        "file",
        {"source": str(tmp_path / "missing"), "destination": "/x", "generated": True},
    )
    with pytest.raises(ConfigError):
        make("provisioner", "file", {"sources": ["a"], "destination": "/not-a-dir"})
    prov = make("provisioner", "file", {"content": "x", "destination": "/x"})
    with pytest.raises(RuntimeError, match="needs a communicator"):
        prov.provision(NullUi(), None, {}, Context())


def test_manifest_packer_format_and_append(tmp_path):
    output = tmp_path / "manifest.json"
    data_file = tmp_path / "image.raw"
    data_file.write_bytes(b"x" * 10)
    artifact = SimpleArtifact("test", "img-1", files_=[str(data_file)])
    pp = make(
        "post-processor",
        "manifest",
        {"output": str(output), "strip_path": True, "custom_data": {"a": "b"}},
    )
    result, keep, force = pp.post_process(NullUi(), artifact, Context())
    assert result is artifact and keep and force
    pp.post_process(NullUi(), artifact, Context())
    manifest = json.loads(output.read_text())
    assert manifest["last_run_uuid"] == "run-1"
    assert len(manifest["builds"]) == 2
    build = manifest["builds"][0]
    assert build["name"] == "app" and build["builder_type"] == "null"
    assert build["files"] == [{"name": "image.raw", "size": 10}]
    assert build["artifact_id"] == "img-1" and build["packer_run_uuid"] == "run-1"
    assert build["custom_data"] == {"a": "b"} and isinstance(build["build_time"], int)


def test_manifest_strip_time_unset_custom_data_and_force_as_packer(tmp_path):
    output = tmp_path / "manifest.json"
    artifact = SimpleArtifact("test", "img-1")
    options = {"output": str(output), "strip_time": True}
    make("post-processor", "manifest", options).post_process(NullUi(), artifact, Context())
    # Packer's JSON: build_time is omitempty, an unset custom_data map is null.
    (build,) = json.loads(output.read_text())["builds"]
    assert "build_time" not in build and build["custom_data"] is None and build["files"] is None
    # -force: a later run starts the manifest afresh; the same run appends.
    forced = BuildInfo(name="app", builder_type="null", build_name="null.app", run_id="run-2", force=True)
    pp = BUILTINS["post-processor"]["manifest"]()
    pp.prepare(options, forced)
    pp.post_process(NullUi(), artifact, Context())
    pp.post_process(NullUi(), artifact, Context())
    manifest = json.loads(output.read_text())
    assert [b["packer_run_uuid"] for b in manifest["builds"]] == ["run-2", "run-2"]


def test_checksum_writes_digest_lines_with_placeholders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.bin").write_bytes(b"abc")
    artifact = SimpleArtifact("test", "x", files_=[str(tmp_path / "f.bin")])
    pp = make("post-processor", "checksum", {"checksum_types": ["sha256", "md5"]})
    result, keep, force = pp.post_process(NullUi(), artifact, Context())
    # As Packer: the input is always kept; the artifact is the input's files plus
    # the checksum files created (default name with the builder type), no id.
    assert (keep, force, result.id) == (True, True, "")
    created = ["packer_app_null_sha256.checksum", "packer_app_null_md5.checksum"]
    assert result.files == [str(tmp_path / "f.bin"), *created]
    assert result.string() == "Created artifact from files: " + ", ".join(result.files)
    assert (
        tmp_path / "packer_app_null_sha256.checksum"
    ).read_text() == f"{hashlib.sha256(b'abc').hexdigest()}\tf.bin\n"
    again, _, _ = pp.post_process(NullUi(), artifact, Context())
    assert again.files == [str(tmp_path / "f.bin")]  # existing checksum files: appended, not new
    assert len((tmp_path / "packer_app_null_md5.checksum").read_text().splitlines()) == 2
    with pytest.raises(ConfigError):
        make("post-processor", "checksum", {"checksum_types": ["crc99"]})
    with pytest.raises(ConfigError):
        make("post-processor", "checksum", {"output": "{{.Nope}}"})


def test_compress_tar_gz(tmp_path):
    (tmp_path / "a").write_text("A")
    (tmp_path / "b").write_text("B")
    artifact = SimpleArtifact("test", "x", files_=[str(tmp_path / "a"), str(tmp_path / "b")])
    out = tmp_path / "out.tar.gz"
    result, keep, _ = make("post-processor", "compress", {"output": str(out)}).post_process(
        NullUi(), artifact, Context()
    )
    assert result.files == [str(out)] and keep is False
    assert (result.id, result.string()) == ("", f"compressed artifacts in: {out}")
    with tarfile.open(out) as archive:
        assert sorted(archive.getnames()) == ["a", "b"]
    # As Packer: an output naming no format gets a tar compressed with gzip.
    box = tmp_path / "vm.box"
    make("post-processor", "compress", {"output": str(box)}).post_process(NullUi(), artifact, Context())
    with tarfile.open(box, "r:gz") as archive:
        assert sorted(archive.getnames()) == ["a", "b"]
    with pytest.raises(ConfigError, match="unknown format 'rar'"):
        make("post-processor", "compress", {"output": "x", "format": "rar"})


def test_compress_bgzf_blocks_as_the_specification(tmp_path):
    import gzip
    import struct

    data = bytes(range(256)) * 1000  # several 64 KiB blocks
    (tmp_path / "disk.img").write_bytes(data)
    one = SimpleArtifact("test", "x", files_=[str(tmp_path / "disk.img")])
    out = tmp_path / "disk.img.bgzf"
    make("post-processor", "compress", {"output": str(out)}).post_process(NullUi(), one, Context())
    raw = out.read_bytes()
    assert gzip.decompress(raw) == data  # any gzip reader reads it
    offset, sizes = 0, []
    while offset < len(raw):  # every member: FEXTRA with BC = its size - 1
        assert raw[offset : offset + 4] == b"\x1f\x8b\x08\x04" and raw[offset + 12 : offset + 16] == b"BC\x02\x00"
        (bsize,) = struct.unpack_from("<H", raw, offset + 16)
        sizes.append(struct.unpack_from("<I", raw, offset + bsize + 1 - 4)[0])
        offset += bsize + 1
    assert offset == len(raw) and sum(sizes) == len(data) and sizes[-1] == 0  # the EOF block ends it


def test_compress_zip_keeps_paths_and_levels_as_packer(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "disk.img").write_text("D")
    artifact = SimpleArtifact("test", "x", files_=["out/disk.img"])
    pp = make("post-processor", "compress", {"output": "a.zip", "compression_level": 12})
    assert pp.config.compression_level == 9  # Packer caps the level at 9
    pp.post_process(NullUi(), artifact, Context())
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.namelist() == ["out/disk.img"]  # Packer's zip keeps the path
    assert make("post-processor", "compress", {"compression_level": 0}).config.compression_level == 6
    with pytest.raises(ConfigError, match="compression_level"):
        make("post-processor", "compress", {"compression_level": -2})


@pytest.mark.parametrize(
    ("name", "opener"),
    [
        ("out.tar.xz", "lzma"),
        ("out.txz", "lzma"),
        ("out.tar.bz2", "bz2"),
        ("out.tbz2", "bz2"),
        ("out.tar", "plain"),
    ],
)
def test_compress_tar_with_xz_bzip2_or_nothing(tmp_path, name, opener):
    import bz2
    import lzma

    (tmp_path / "a").write_text("A" * 1000)
    (tmp_path / "b").write_text("B")
    artifact = SimpleArtifact("test", "x", files_=[str(tmp_path / "a"), str(tmp_path / "b")])
    out = tmp_path / name
    make("post-processor", "compress", {"output": str(out)}).post_process(NullUi(), artifact, Context())
    raw = {"lzma": lzma.open, "bz2": bz2.open, "plain": open}[opener](out, "rb")
    with raw, tarfile.open(fileobj=raw, mode="r:") as archive:
        assert sorted(archive.getnames()) == ["a", "b"]
        member = archive.extractfile("a")
        assert member is not None and member.read() == b"A" * 1000


def test_compress_single_file_xz_and_bz2_and_format_option(tmp_path):
    import bz2
    import lzma

    (tmp_path / "disk.img").write_bytes(b"\x00disk" * 100)
    one = SimpleArtifact("test", "x", files_=[str(tmp_path / "disk.img")])
    make("post-processor", "compress", {"output": str(tmp_path / "d.xz")}).post_process(NullUi(), one, Context())
    assert lzma.decompress((tmp_path / "d.xz").read_bytes()) == b"\x00disk" * 100
    make("post-processor", "compress", {"output": str(tmp_path / "d.out"), "format": "bz2"}).post_process(
        NullUi(), one, Context()
    )
    assert bz2.decompress((tmp_path / "d.out").read_bytes()) == b"\x00disk" * 100
    two = SimpleArtifact("test", "x", files_=[str(tmp_path / "disk.img"), str(tmp_path / "d.xz")])
    with pytest.raises(RuntimeError, match="single file"):
        make("post-processor", "compress", {"output": str(tmp_path / "e.xz")}).post_process(
            NullUi(), two, Context()
        )


def test_compress_lz4_frames_read_by_the_lz4_tool(tmp_path):
    import random
    import subprocess

    from bakehouse.testing import require

    require(shutil.which("lz4") is not None, "the lz4 command (apt package lz4)")
    rng = random.Random(7)
    # Text-like, repetitive and random parts, across several 64 KiB blocks.
    data = b"".join(
        rng.choice([rng.randbytes(40), b"bake" * rng.randint(1, 300), b"house\n"]) for _ in range(4000)
    )
    (tmp_path / "disk.img").write_bytes(data)
    (tmp_path / "b").write_bytes(b"")
    one = SimpleArtifact("test", "x", files_=[str(tmp_path / "disk.img")])
    out = tmp_path / "disk.img.lz4"
    make("post-processor", "compress", {"output": str(out)}).post_process(NullUi(), one, Context())
    assert out.stat().st_size < len(data) // 2
    decoded = subprocess.run(["lz4", "-d", "-c", str(out)], capture_output=True, check=True).stdout
    assert decoded == data
    two = SimpleArtifact("test", "x", files_=[str(tmp_path / "disk.img"), str(tmp_path / "b")])
    make("post-processor", "compress", {"output": str(tmp_path / "t"), "format": "tar.lz4"}).post_process(
        NullUi(), two, Context()
    )
    listing = subprocess.run(
        f"lz4 -d -c {tmp_path / 't'} | tar -t", shell=True, capture_output=True, text=True, check=True
    ).stdout
    assert listing.split() == ["disk.img", "b"]


def test_artifice_makes_an_artifact_of_files_as_packer_does(tmp_path):
    for name in ("a.txt", "b.txt", "c.log"):
        (tmp_path / name).write_text(name)
    pattern = str(tmp_path / "*.txt")
    result, keep, force = make("post-processor", "artifice", {"files": [pattern]}).post_process(
        NullUi(), SimpleArtifact("t", "x"), Context()
    )
    # Packer's artifice: globbed files, no id, keeps its input, Destroy removes the files.
    assert result.files == [str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]
    assert (result.id, keep, force) == ("", True, False)
    assert result.string() == f"Created artifact from files: {tmp_path}/a.txt, {tmp_path}/b.txt"
    result.destroy()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.log"]
    with pytest.raises(RuntimeError, match="no such file"):
        make("post-processor", "artifice", {"files": [str(tmp_path / "gone")]}).post_process(
            NullUi(), SimpleArtifact("t", "x"), Context()
        )
    with pytest.raises(ConfigError, match="No files specified in artifice configuration"):
        make("post-processor", "artifice", {"files": []})


def test_sleep_is_cancellable():
    import threading
    import time

    sleep = make("provisioner", "sleep", {"duration": "10s"})
    ctx = Context()
    threading.Timer(0.1, ctx.cancel).start()
    started = time.monotonic()
    from bakehouse.sdk import Cancelled

    with pytest.raises(Cancelled):
        sleep.provision(NullUi(), None, {}, ctx)
    assert time.monotonic() - started < 2
    with pytest.raises(ConfigError):
        make("provisioner", "sleep", {"duration": "ten"})


def test_null_builder_ssh_requires_host():
    with pytest.raises(ConfigError) as info:
        make("builder", "null", {"communicator": "ssh"})
    assert info.value.problems[0].path == ("ssh_host",)


def test_null_builder_validates_ssh_options_only_for_ssh(tmp_path):
    # communicator "none": ssh options are accepted (and ignored), as in Packer
    make("builder", "null", {"ssh_port": 2222, "ssh_username": "x"})
    with pytest.raises(ConfigError) as info:
        make("builder", "null", {"communicator": "ssh", "ssh_host": "h", "ssh_port": "not a port"})
    assert info.value.problems[0].path == ("ssh_port",)
    with pytest.raises(ConfigError) as info:
        make("builder", "null", {"bogus": 1})
    assert info.value.problems[0].path == ("bogus",)


def test_null_builder_does_not_import_paramiko_without_ssh():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from bakehouse.builtin.registry import BUILTINS\n"
        "from bakehouse.sdk import BuildInfo\n"
        "BUILTINS['builder']['null']().prepare({}, BuildInfo(name='a', builder_type='null'))\n"
        "print('paramiko' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
