import pytest

from tinydyn import cli


def test_bench_rejects_an_unknown_suite(capsys):
    assert cli.main(["bench", "nope"]) == 2
    assert "unknown suite 'nope'" in capsys.readouterr().err


def test_bench_rejects_zero_repeats(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "engine", "--repeats", "0"])
    assert "--repeats must be >= 1" in capsys.readouterr().err


def test_no_command_prints_usage(capsys):
    with pytest.raises(SystemExit):
        cli.main([])
    assert "usage: tinydyn" in capsys.readouterr().err


def test_bench_rejects_zero_threads(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "engine", "--threads", "0"])
    assert "--threads must be >= 1" in capsys.readouterr().err
