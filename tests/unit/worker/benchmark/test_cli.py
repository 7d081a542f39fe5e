"""``ps-benchmark`` flags: usage errors are one stderr line and exit status 2."""

import pytest

from worker.benchmark.__main__ import main


@pytest.mark.parametrize("argv, words", [
    ([], "command"),
    (["fly"], "invalid choice"),
    (["run", "--seconds", "zero"], "--seconds"),
    (["run", "--seconds", "0"], "seconds"),
    (["run", "--batch-size", "0"], "batch_size"),
    (["run", "--clients", "0"], "clients"),
    (["run", "--optimizer", "sgdx"], "--optimizer"),
    (["run", "--baselines", "transfer,memcached"], "--baselines"),
    (["run", "--ps", "127.0.0.1:1", "--dim", "8"], "--dim"),
    (["run", "--ps", "nohost"], "host:port"),
    (["run", "--zipf", "4", "--vocab", "20000", "--batch-size", "10000"], "--zipf"),
    (["sweep", "--grid-dim", "8,x"], "--grid-dim"),
    (["sweep", "--grid-num-ps", "1,1"], "num_ps"),
    (["sweep", "--ps", "127.0.0.1:1"], "unrecognized"),
    (["select", "--ps", "a:1"], "--num-ps-required"),
    (["select", "--ps", "a:1,b:2", "--num-ps-required", "3"], "num_ps_required"),
    (["select", "--ps", "a:1", "--num-ps-required", "1", "--index", "1", "--num-workers", "2"],
     "--out"),
    (["select", "--ps", "a", "--num-ps-required", "1"], "host:port"),
    (["select", "--ps", "a:1", "--num-ps-required", "1", "--benchmark-secs", "-1"],
     "benchmark_secs"),
])
def test_bad_flags_are_one_line_and_status_2(argv, words, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("ps-benchmark")
    assert words in err


def test_select_override_answers_as_is_and_publishes(tmp_path, capsys):
    out = tmp_path / "ps.txt"
    argv = ["select", "--ps-str-overridden", "10.0.0.1:1,10.0.0.2:1", "--num-ps-required", "1",
            "--out", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out == "10.0.0.1:1,10.0.0.2:1\n"
    assert out.read_text() == "10.0.0.1:1,10.0.0.2:1\n"


def test_a_non_chief_worker_reads_the_chiefs_list(tmp_path, capsys):
    out = tmp_path / "ps.txt"
    out.write_text("10.0.0.3:7\n")
    argv = ["select", "--ps", "10.0.0.3:7,10.0.0.4:7", "--num-ps-required", "1",
            "--num-workers", "3", "--index", "2", "--out", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out == "10.0.0.3:7\n"


def test_a_failure_is_one_line_and_status_1(tmp_path, capsys):
    argv = ["select", "--ps", "a:1", "--num-ps-required", "1", "--num-workers", "2",
            "--index", "1", "--out", str(tmp_path / "never"), "--wait-s", "0.05"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no PS list published" in err
