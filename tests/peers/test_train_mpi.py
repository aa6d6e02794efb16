"""Data-parallel `slm train` under MPI: `mpirun -np 2` with batch B per process gives the same
per-step losses (within 1e-5) as one process with batch 2B (with and without gradient
accumulation), only rank 0 writes files, and a two-process run resumes from its checkpoint
exactly. Skipped when mpirun or MPI support is absent."""
import os
import shutil

import pytest

from conftest import DATA, SANITIZED, STORIES, run

MPIRUN = shutil.which("mpirun")
pytestmark = pytest.mark.skipif(MPIRUN is None, reason="mpirun not found (apt-get install openmpi-bin libopenmpi-dev)")
SEP = "<|endoftext|>"
# OpenMPI's own allocations are reported as leaks by LeakSanitizer: leak checks off under mpirun
ENV = {"ASAN_OPTIONS": "detect_leaks=0"} if SANITIZED else None


@pytest.fixture(scope="module")
def shards(slm, tmp_path_factory):
    d = tmp_path_factory.mktemp("mpi")
    text = (DATA / "tinystories" / "tinystories_train_head_2MiB.txt").read_text()[:60_000]
    (d / "a.txt").write_text(text[: text.rfind(SEP)])
    run([slm, "data", "prepare", "-q", "-m", STORIES / "tok512.bin", "-o", d / "shards", "--val-fraction", "0.1",
         d / "a.txt"])
    return d / "shards"


def args(slm, shards, out, batch, extra=()):
    return [slm, "train", "--data", shards, "-o", out, "--dim", "32", "--layers", "2", "--heads", "4", "--kv-heads", "2",
            "--seq", "32", "--batch", str(batch), "--steps", "10", "--lr", "3e-3", "--warmup", "2", "--eval-every", "5",
            "--eval-batches", "2", "--seed", "5", "-t", "1", *extra]


def mpirun(np_args):
    """mpirun with one program per entry of np_args (MPMD, one process each)."""
    cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe"]
    for i, a in enumerate(np_args):
        cmd += ([":"] if i else []) + ["-np", "1", *a]
    return run(cmd, env=ENV, timeout=120)


def rows(csv):
    lines = csv.read_text().strip().split("\n")
    assert lines[0].startswith("step,loss,val_loss")
    return [[float(x) if x else None for x in line.split(",")[:3]] for line in lines[1:]]


def check_mpi_build(slm, shards, tmp_path):
    proc = run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2", slm, "train", "--data", shards, "-o",
                tmp_path / "probe.gguf", "--dim", "16", "--layers", "1", "--heads", "2", "--seq", "8", "--batch", "1",
                "--steps", "1", "-t", "1"], env=ENV, timeout=120)
    if b"x 2 processes" not in proc.stderr:
        pytest.skip("slm was built without MPI")


@pytest.mark.parametrize("accum", [1, 2])
def test_two_ranks_equal_one_process_with_twice_the_batch(slm, shards, tmp_path, accum):
    check_mpi_build(slm, shards, tmp_path)
    for d in ("one", "r0", "r1"):
        (tmp_path / d).mkdir()
    acc = ["--accum", str(accum)]
    run(args(slm, shards, tmp_path / "one" / "m.gguf", 4, acc))
    # rank 1 is given another output folder: it must write nothing there
    proc = mpirun([args(slm, shards, tmp_path / "r0" / "m.gguf", 2, acc),
                   args(slm, shards, tmp_path / "r1" / "m.gguf", 2, acc)])
    assert proc.stderr.count(b"done: 10 steps") == 1 and proc.stderr.count(b"slm train:") == 1
    one, two = rows(tmp_path / "one" / "m.csv"), rows(tmp_path / "r0" / "m.csv")
    assert [r[0] for r in two] == list(range(1, 11))
    for a, b in zip(one, two):
        assert abs(a[1] - b[1]) <= 1e-5, (a, b)
        assert (a[2] is None) == (b[2] is None) and (a[2] is None or abs(a[2] - b[2]) <= 1e-5), (a, b)
    assert sorted(p.name for p in (tmp_path / "r0").iterdir()) == ["m.csv", "m.gguf", "m.svg"]
    assert list((tmp_path / "r1").iterdir()) == []


def test_two_ranks_resume(slm, shards, tmp_path):
    check_mpi_build(slm, shards, tmp_path)
    ck = ["--checkpoint-every", "5"]
    mpirun([args(slm, shards, tmp_path / "m.gguf", 2, ck)] * 2)
    full = rows(tmp_path / "m.csv")
    ckpt = tmp_path / "m-step000005.gguf"
    assert ckpt.exists()
    # a checkpoint of two processes does not resume in one
    proc = run([slm, "train", "--resume", ckpt], check=False)
    assert proc.returncode == 2 and b"mpirun -np 2" in proc.stderr
    os.remove(tmp_path / "m.gguf")
    mpirun([[slm, "train", "--resume", ckpt]] * 2)
    assert rows(tmp_path / "m.csv") == full
