"""``prefopt plot``: curves read from metrics.jsonl files written here by hand, several runs on one figure."""

from __future__ import annotations

import json
import sys

import pytest

from prefopt.cli import main
from prefopt.cli.train import format_report
from prefopt.plots import figures, read_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(directory, scale: float, *, ranks: int = 3) -> None:
    """Two training lines and two held-out lines of a K = ``ranks`` run; every value is ``scale`` times a known one."""
    lines = []
    for step in (0, 10):
        if step:
            train = {"loss": scale * 0.5, "accuracy": 0.75, "lr": 1e-3, "grad_norm": scale * 2, "kendall_tau": 0.4}
            train.update({f"rewards/rank{k}": scale * (1 - k) for k in range(ranks)})
            lines.append({"step": step, "split": "train", **train})
        held_out = {"loss": scale * (0.7 - step / 100), "accuracy": 0.5 + step / 100, "margin": scale * step}
        held_out.update({f"logps/policy/rank{k}": -scale * (k + 1) for k in range(ranks)})
        lines.append({"step": step, "split": "eval", **held_out})
    lines.insert(1, {"step": 0, "split": "config", "changed": {"logging.log_every": [1, 2]}})
    directory.mkdir(parents=True)
    (directory / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def lines_of(figure) -> dict[str, tuple[list, list]]:
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in figure.axes[0].get_lines()}


def test_several_runs_share_each_figure_with_the_values_logged(tmp_path):
    write_run(tmp_path / "beta-0.1", 1.0)
    write_run(tmp_path / "beta-0.5", 2.0)
    runs = [read_curves(tmp_path / name, name) for name in ("beta-0.1", "beta-0.5")]
    drawn = dict(figures(runs))
    assert set(drawn) == {"loss", "accuracy", "margin", "rewards", "logps", "kendall_tau", "lr", "grad_norm"}
    assert lines_of(drawn["loss"]) == {
        "beta-0.1 (train)": ([10], [0.5]),
        "beta-0.1 (held-out)": ([0, 10], [0.7, 0.6]),
        "beta-0.5 (train)": ([10], [1.0]),
        "beta-0.5 (held-out)": ([0, 10], [1.4, 1.2]),
    }
    rewards = lines_of(drawn["rewards"])
    assert rewards["beta-0.5 rank2 (train)"] == ([10], [-2.0])
    assert len(rewards) == 6  # two runs x three ranks, training only
    assert lines_of(drawn["logps"])["beta-0.1 rank1 (held-out)"] == ([0, 10], [-2.0, -2.0])


def test_pairwise_runs_have_no_kendall_tau_figure(tmp_path):
    write_run(tmp_path / "pairs", 1.0, ranks=2)
    lines = (tmp_path / "pairs" / "metrics.jsonl").read_text().replace(', "kendall_tau": 0.4', "")
    (tmp_path / "pairs" / "metrics.jsonl").write_text(lines)
    assert "kendall_tau" not in dict(figures([read_curves(tmp_path / "pairs", "pairs")]))


def test_the_command_writes_pngs_and_names_them(tmp_path, capsys):
    write_run(tmp_path / "a", 1.0)
    write_run(tmp_path / "b", 2.0)
    assert main(["plot", str(tmp_path / "a")]) == 0
    single = capsys.readouterr().out.split()
    assert single[0] == str(tmp_path / "a" / "plots" / "loss.png") and len(single) == 8
    assert main(["plot", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "both")]) == 0
    written = sorted(p.name for p in (tmp_path / "both").iterdir())
    assert written == sorted(f"{stem}.png" for stem in ("loss", "accuracy", "margin", "rewards", "logps",
                                                        "kendall_tau", "lr", "grad_norm"))  # fmt: skip
    assert all((tmp_path / "both" / name).read_bytes().startswith(PNG_MAGIC) for name in written)


@pytest.mark.parametrize(
    "arguments,message",
    [
        (["{0}/a", "{0}/a"], "prefopt plot: 2 runs share each figure; say where they go with --out DIR"),
        (["{0}/absent"], "prefopt plot: {0}/absent: no metrics.jsonl; expected the output directory of prefopt train"),
        (["{0}/broken"], "prefopt plot: {0}/broken/metrics.jsonl, line 2: not a metrics line (JSONDecodeError"),
        (["{0}/stepless"], "prefopt plot: {0}/stepless/metrics.jsonl, line 1: not a metrics line (KeyError: 'step')"),
    ],
)
def test_mistakes_are_one_message_and_status_2(tmp_path, capsys, arguments, message):
    write_run(tmp_path / "a", 1.0)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.jsonl").write_text('{"step": 0, "split": "eval", "loss": 1}\n{"step": 1,\n')
    (tmp_path / "stepless").mkdir()
    (tmp_path / "stepless" / "metrics.jsonl").write_text('{"split": "eval", "loss": 1}\n')
    assert main(["plot", *(argument.format(tmp_path) for argument in arguments)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(tmp_path)) and len(err.strip().splitlines()) == 1


def test_without_matplotlib_the_message_names_the_extra(tmp_path, capsys, monkeypatch):
    write_run(tmp_path / "a", 1.0)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import matplotlib.figure now raises ImportError
    assert main(["plot", str(tmp_path / "a")]) == 2
    assert capsys.readouterr().err == "prefopt plot: plots need matplotlib: pip install 'prefopt[plot]'\n"


def test_the_end_report_names_the_pngs_when_written(tmp_path):
    metrics = {"accuracy": 0.5, "margin": 0.0, "loss": 0.69}
    plots = [tmp_path / "plots" / "loss.png", tmp_path / "plots" / "accuracy.png"]
    report = format_report(metrics, metrics, 3, tmp_path, plots)
    assert report.splitlines()[-1] == f"plots in {tmp_path / 'plots'}: loss.png, accuracy.png"
    assert "plots" not in format_report(metrics, metrics, 3, tmp_path)
