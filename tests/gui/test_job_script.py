"""Export job script (SLURM) and the torchrun launch line in the command-line box."""
from __future__ import annotations

import os
import shlex
import stat
import sys

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QFileDialog

from cramgui.config_form import ConfigForm
from cramgui.job_script import JobScriptDialog, default_time
from cramgui.main_window import MainWindow
from engine.contract import config as ec
from engine.contract import slurm
from engine.contract.launch import TrainArgs, launch_command


def make_window(qtbot, tmp_path):
    win = MainWindow(runs_dir=tmp_path / "runs")
    qtbot.addWidget(win)
    win.show()
    return win


def test_job_script_from_the_form(qtbot, tmp_path, monkeypatch):
    win = make_window(qtbot, tmp_path)
    win.form.set_preset("smoke")
    win.form.set_values({"hardware.gpus": 2, "hardware.device": "auto", "budget.seconds": 3600})
    assert win.actions.job_script in win.menuBar().actions()[0].menu().actions()   # File menu
    win.job_button.click()
    d = win.dialogs["job"]
    assert isinstance(d, JobScriptDialog) and d.isVisible()
    assert d.gpus.value() == 2                                 # from hardware.gpus
    # budget + evaluation (a quarter, at least 10 min) + 10 min margin + the 5 min signal lead
    assert d.time_edit.text() == default_time(win.form.config()) == slurm.default_time(win.form.config()) \
        == "01:30:00"
    assert d.project.text() == "" and "installed" in d.project.placeholderText()
    assert d.run_dir.text().startswith(str((tmp_path / "runs").resolve())) and d.run_dir.text().endswith("-smoke")
    d.signal_s.setValue(120)                                   # the default follows the signal's lead ...
    assert d.time_edit.text() == slurm.default_time(win.form.config(), 120) == "01:27:00"
    d.time_edit.setText("02:00:00")
    d.time_edit.textEdited.emit("02:00:00")                    # ... until a time is typed
    d.partition.setText("gpu")
    d.account.setText("proj42")
    d.mem.setText("64G")
    d.cpus.setValue(6)
    d.run_dir.setText("/shared/runs/smoke-2")
    text = d.preview.toPlainText()
    for line in ("#SBATCH --gres=gpu:2", "#SBATCH --time=02:00:00", "#SBATCH --signal=B:USR1@120",
                 "#SBATCH --partition=gpu", "#SBATCH --account=proj42", "#SBATCH --mem=64G",
                 "#SBATCH --cpus-per-task=6", "RUN_DIR=/shared/runs/smoke-2", "--nproc_per_node=2"):
        assert line in text, line
    # exactly what `cram slurm` renders for the same config and options
    expected = slurm.render(win.form.config(), run_dir="/shared/runs/smoke-2", gpus=2, time="02:00:00",
                            partition="gpu", account="proj42", cpus_per_task=6, mem="64G", signal_seconds=120)
    assert d.script() == expected == text
    assert "\ncd " not in text                                  # no project folder: the installed package, no cd
    assert "Project folder empty" in d.note.text()
    d.project.setText("/shared/src/cramgui")
    assert "\ncd /shared/src/cramgui\n" in d.script() and "Project folder empty" not in d.note.text()
    assert d.script() == slurm.render(win.form.config(), run_dir="/shared/runs/smoke-2", gpus=2, time="02:00:00",
                                      partition="gpu", account="proj42", cpus_per_task=6, mem="64G",
                                      signal_seconds=120, project_dir="/shared/src/cramgui")
    d.project.setText("")
    assert d.preview.isReadOnly()
    assert d.preview.font().family() == QFontDatabase.systemFont(QFontDatabase.FixedFont).family()   # monospace
    assert not d.problems.isVisible() and d.save_button.isEnabled()
    assert "SIGUSR1 120 s before the time limit" in d.note.text() and "scancel (SIGTERM)" in d.note.text()

    # validation: shown in the dialog, Save disabled
    d.time_edit.setText("2 hours")
    assert "Time limit: expected HH:MM:SS" in d.problems_text() and not d.save_button.isEnabled()
    assert d.script() is None
    d.time_edit.setText("00:01:00")
    assert "Signal before limit" in d.problems_text() and "not below the time limit" in d.problems_text()
    d.time_edit.setText("1-00:00:00")
    d.mem.setText("lots")
    assert "Memory" in d.problems_text()
    d.mem.setText("")
    d.run_dir.setText("")
    assert "Run directory" in d.problems_text()
    d.run_dir.setText("/shared/runs/smoke-2")
    assert d.script() and "#SBATCH --time=1-00:00:00" in d.script() and not d.problems_text()
    run_dir = tmp_path / "shared" / "runs" / "smoke-2"
    run_dir.parent.mkdir(parents=True)                         # the shared runs folder, mounted here
    d.run_dir.setText(str(run_dir))

    # Save… writes the script, executable
    out = tmp_path / "job.sbatch"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    d.save_button.click()
    assert out.read_text() == d.script()
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o755
    assert f"sbatch {out}" in d.status.text()
    assert run_dir.is_dir()                                    # sbatch writes its log there before the script runs
    d.run_dir.setText(str(tmp_path / "elsewhere" / "runs" / "x"))   # only on the cluster: not created, a note
    d.save_to(out)
    assert "on the cluster first" in d.status.text() and not (tmp_path / "elsewhere").exists()


def test_job_script_shows_form_problems(qtbot, tmp_path):
    form = ConfigForm()
    form.set_values({"data.source": "codexglue", "data.path": ""})
    assert not form.is_valid()
    d = JobScriptDialog(form.config(), tmp_path / "runs", form.errors())
    qtbot.addWidget(d)
    assert "data.path" in d.problems_text() and not d.save_button.isEnabled()


def test_command_box_shows_the_torchrun_launch(qtbot):
    form = ConfigForm()
    qtbot.addWidget(form)
    form.set_preset("smoke")
    assert "torch.distributed.run" not in form.command_box.toPlainText()
    form.editor("hardware.gpus").spin.setValue(2)
    text = form.command_box.toPlainText()
    cram_line, note, launch = text.split("\n")
    assert cram_line == form.command_line() and "--set hardware.gpus=2" in cram_line
    assert "2 GPUs: it runs torchrun" in note
    # the exact command `cram train` runs: engine.contract.launch.launch_command on the TrainArgs the CLI builds
    # (engine.cli.train_args), pinned to the run directory
    sets = [form.cli_args()[i + 1] for i, a in enumerate(form.cli_args()) if a == "--set"]
    args = TrainArgs(preset="smoke", sets=sets)
    assert form.train_args() == args
    assert launch == shlex.join(launch_command(2, args.on("RUN_DIR").argv()))
    assert launch.startswith(f"{sys.executable} -m torch.distributed.run --standalone --nproc_per_node=2 -m engine "
                             "train --preset smoke --run-dir RUN_DIR")
    assert form.command_box.height() > 64
    assert form.launch_argv("/r", jsonl=True) == launch_command(2, args.on("/r", jsonl=True).argv())
    assert TrainArgs(sets=["a.b=1"]).on("/r").argv() == ["train", "--run-dir", "/r", "--set", "a.b=1"]
    form.editor("hardware.gpus").spin.setValue(1)
    assert form.command_box.toPlainText() == form.command_line()


def test_default_time_covers_budget_evaluation_signal_and_margin():
    cfg = ec.RunConfig()
    cfg.budget.seconds = 120
    assert default_time(cfg) == "00:27:00"                     # 2 min + 10 min evaluation + 10 min + 5 min
    cfg.budget.seconds = 24 * 3600
    assert default_time(cfg) == "1-06:15:00"                   # + 6 h evaluation (a quarter) + 15 min
    cfg.budget.seconds = 5000
    assert slurm.parse_time(default_time(cfg)) >= 5000 * 1.25 + 600 + 300


def test_cpu_preset_requests_no_gpu(qtbot, tmp_path):
    form = ConfigForm()
    qtbot.addWidget(form)
    form.set_preset("smoke")
    form.set_values({"hardware.device": "cpu"})
    d = JobScriptDialog(form.config(), tmp_path / "runs", form.errors())
    qtbot.addWidget(d)
    assert d.gpus.value() == 0 and d.gpus.text() == "none (CPU job)"
    assert "--gres" not in d.script() and "A CPU job" in d.note.text()
    d.gpus.setValue(1)
    assert "#SBATCH --gres=gpu:1" in d.script()
