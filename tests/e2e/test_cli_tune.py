"""`smtrain tune` as a user runs it on the local backend: the search, show, ls, deploy of the best trial,
plan tune, Ctrl-C, and bad input refused before anything runs."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from smtrain.api.session import Session
from tests.e2e.conftest import Cli
from tests.helpers import interrupt_when

pytestmark = pytest.mark.e2e

SEARCH = ["--metric-definition", "test_accuracy=test_accuracy=([0-9.]+)", "--objective", "test_accuracy"]


def tune_args(data: dict[str, object], *extra: str) -> list[str]:
    return ["tune", "--entry-point", "penguins.py", "--source-dir", "entry_points",
            "--channel", f"train={data['train']}", "--channel", f"test={data['test']}", "--hp", "target=sex",
            *SEARCH, *extra]


def test_tune_show_ls_and_deploy_the_best_trial(cli: Cli) -> None:
    data = cli("prepare", "--json").json()
    plan = cli("plan", *tune_args(data, "--range", "C=categorical:0.01,1", "--strategy", "Grid",
                                  "--job-name", "planned"))
    assert plan.code == 0, plan.err
    request = next(s for s in plan.json() if s["type"] == "ApiCall")["params"]
    assert request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 2
    assert cli("show", "planned").code != 0  # planning sent nothing

    tuned = cli(*tune_args(data, "--range", "C=categorical:0.01,1", "--strategy", "Grid", "--max-parallel", "2",
                           "--job-name", "grid-tune", "--json"))
    assert tuned.code == 0, tuned.err
    description = tuned.json()
    assert description["HyperParameterTuningJobStatus"] == "Completed"
    assert description["TrainingJobStatusCounters"]["Completed"] == 2
    assert "best test_accuracy" in tuned.err  # progress while it waited
    best = description["BestTrainingJob"]["TrainingJobName"]

    shown = cli("show", "grid-tune")
    assert shown.code == 0, shown.err
    assert f"best job     {best}" in shown.out
    ranked = shown.out.split("trials, best first\n")[1].split("\n\n")[0].splitlines()[1:]
    assert ranked[0].split()[:2] == ["1", best] and len(ranked) == 2
    objectives = [float(row.split()[3]) for row in ranked]
    assert objectives == sorted(objectives, reverse=True)  # ranked by the objective, best first
    chart = shown.out.split("test_accuracy by trial\n")[1].splitlines()
    assert [line.split()[0] for line in chart] == ["001", "002"]  # one bar per trial, in trial order
    assert sorted(float(line.split()[-1]) for line in chart) == sorted(objectives)
    plotted = cli("show", "grid-tune", "--plot", "trials.png")  # the same chart as a picture
    assert plotted.code == 0 and "chart written to trials.png" in plotted.err, plotted.err
    assert (cli.cwd / "trials.png").read_bytes().startswith(b"\x89PNG")

    cli("fit", "--entry-point", "penguins.py", "--source-dir", "entry_points", "--channel", f"train={data['train']}",
        "--channel", f"test={data['test']}", "--hp", "target=sex", "--job-name", "plain-fit")
    everything = [line.split("\t")[0] for line in cli("ls").out.splitlines()[1:]]
    at = everything.index("grid-tune")  # the tuning job, its trials right beneath it
    assert all(re.fullmatch(r"grid-tune-00[12]-[0-9a-f]{8}", name) for name in everything[at + 1:at + 3])
    assert "plain-fit" in everything and "plain-fit" not in everything[at:at + 3]
    listed = cli("ls", "--tuning-job", "grid-tune")
    names = [line.split("\t")[0] for line in listed.out.splitlines()[1:]]
    assert names[0] == "grid-tune" and len(names) == 3  # only the tuning job, then its trials
    assert all(re.fullmatch(r"grid-tune-00[12]-[0-9a-f]{8}", name) for name in names[1:])
    unknown = cli("ls", "--tuning-job", "grid-tun")
    assert unknown.code == 0 and unknown.out.count("\n") == 1 and "no tuning job 'grid-tun'" in unknown.err

    logged = cli("logs", "grid-tune")  # the tuner's own log: each trial started and ended
    assert logged.code == 0, logged.err
    assert "tuning job grid-tune: Completed" in logged.out and logged.out.count("started with") == 2

    deployed = cli("deploy", "grid-tune", "--endpoint-name", "tuned-ep", "--json")
    assert deployed.code == 0, deployed.err
    assert f"its best training job is {best}" in deployed.err
    predicted = cli("predict", "tuned-ep", "--body", "Adelie,Torgersen,39.1,18.7,181.0,3750.0")
    assert predicted.code == 0 and json.loads(predicted.out) in (["male"], ["female"])
    assert cli("teardown", "tuned-ep").code == 0

    registered = cli("register", "grid-tune", "--group", "tuned-group")
    assert registered.code == 0, registered.err
    assert f"its best training job is {best}" in registered.err
    packages = cli("models", "tuned-group", "--json")
    assert packages.code == 0, packages.err
    assert [package["TrainingJobName"] for package in packages.json()] == [best]  # the best trial's model


# Level 1 finishes at once, every other level sleeps: Ctrl-C comes with one trial done and others running.
SLOW = textwrap.dedent("""
    import argparse, os, time
    parser = argparse.ArgumentParser()
    parser.add_argument("--level", type=int)
    level = parser.parse_args().level
    if level != 1:
        time.sleep(60)
    print(f"m={level}")
    open(os.path.join(os.environ["SM_MODEL_DIR"], "m"), "w").write("x")
""")


def test_ctrl_c_stops_every_running_trial_and_leaves_the_job_stopped(cli: Cli, workdir: Path) -> None:
    (workdir / "slow").mkdir()
    (workdir / "slow" / "slow.py").write_text(SLOW)
    log = workdir / ".smtrain" / "tuning-jobs" / "slow-tune" / "job.log"

    def one_done_two_running() -> bool:
        text = log.read_text() if log.is_file() else ""
        return ": Completed, m = 1" in text and text.count("started with") >= 3

    smtrain = str(Path(sys.executable).parent / "smtrain")
    code, err = interrupt_when(
        [smtrain, "tune", "--entry-point", "slow.py", "--source-dir", "slow", "--framework-version", "current",
         "--metric-definition", "m=m=([0-9.]+)", "--objective", "m", "--range", "level=categorical:1,2,3,4",
         "--strategy", "Grid", "--max-parallel", "2", "--job-name", "slow-tune"],
        cwd=workdir, env=cli.env, ready=one_done_two_running)
    assert code == 1, err  # as `fit` after Ctrl-C: the job ended Stopped
    assert "stopping tuning job slow-tune" in err
    session = Session(quiet=True, home=str(workdir / ".smtrain"))
    description = session.tuner("slow-tune").description
    assert description["HyperParameterTuningJobStatus"] == "Stopped"
    counters = description["TrainingJobStatusCounters"]
    assert counters["InProgress"] == 0 and counters["Completed"] == 1 and counters["Stopped"] == 2
    statuses = {t["TunedHyperParameters"]["level"]: t["TrainingJobStatus"] for t in session.trials("slow-tune")}
    assert statuses.pop('"1"') == "Completed" and set(statuses.values()) == {"Stopped"}  # the completed trial kept
    assert len(statuses) == 2  # the fourth value never started
    best = description["BestTrainingJob"]
    assert best["TunedHyperParameters"] == {"level": '"1"'}
    assert cli("show", "slow-tune").code == 0
    assert session.job(best["TrainingJobName"]).status == "Completed"  # its model is still there to deploy


@pytest.mark.parametrize(("flags", "message"), [
    (["--range", "C=continuous:1:0.1"], "LOW (1) must be less than HIGH (0.1)"),
    (["--range", "C=continuous:0:1:log"], "logarithmic scaling needs LOW > 0"),
    (["--range", "target=categorical:sex,species"], "both searched (--range) and fixed (--hp)"),
    (["--range", "C=continuous:0.1:1", "--strategy", "Grid"], "Grid search cannot search the continuous range"),
    (["--range", "C=continuous:0.1:1", "--max-parallel", "101"], "1 to 100"),
    (["--range", "C=continuous:0.1:1", "--max-jobs", "751"], "runs 1 to 750"),
    (["--range", "s=categorical:" + ",".join(f"v{i}" for i in range(31))], "at most 30 values"),
    ([arg for i in range(31) for arg in ("--range", f"p{i}=integer:0:3")], "at most 30 hyperparameters"),
])
def test_bad_input_is_refused_before_anything_runs(cli: Cli, workdir: Path, flags: list[str], message: str) -> None:
    data = {"train": "data/penguins/train", "test": "data/penguins/test"}
    (workdir / "data" / "penguins" / "train").mkdir(parents=True)
    (workdir / "data" / "penguins" / "test").mkdir(parents=True)
    result = cli(*tune_args(data, *flags))
    assert result.code == 2, result.err
    assert message in result.err and "Traceback" not in result.err and "unexpected" not in result.err
    assert not (workdir / ".smtrain" / "tuning-jobs").exists()
    assert "packing source" not in result.err and not (workdir / ".smtrain" / "store").exists()  # nothing uploaded
    objective = cli(*tune_args(data, "--range", "C=continuous:0.1:1", "--objective", "loss"))
    assert objective.code == 2 and "not among the metric definitions" in objective.err
    parent = cli(*tune_args(data, "--range", "C=continuous:0.1:1", "--warm-start", "no-such-parent"))
    assert parent.code == 2 and "there is no tuning job 'no-such-parent' to warm-start from" in parent.err
    assert not (workdir / ".smtrain" / "store").exists() and not (workdir / ".smtrain" / "tuning-jobs").exists()


def test_a_tuned_pipeline_runs_locally_and_registers_the_best_trial(cli: Cli) -> None:
    data = cli("prepare", "--json").json()
    flags = ["--name", "ptune", "--entry-point", "penguins.py", "--source-dir", "entry_points",
             "--channel", f"train={data['train']}", "--channel", f"test={data['test']}", "--hp", "target=sex",
             *SEARCH, "--gate-metric", "test_accuracy", "--gate-threshold", "0.5", "--tune",
             "--range", "C=continuous:0.01:10:log", "--strategy", "Random", "--max-jobs", "3", "--max-parallel", "2"]
    exported = cli("pipeline", "export", *flags, "-o", "ptune.asl.json")
    assert exported.code == 0, exported.err
    tune_state = json.loads((cli.cwd / "ptune.asl.json").read_text())["States"]["Tune"]
    assert tune_state["Resource"] == "arn:aws:states:::sagemaker:createHyperParameterTuningJob.sync"

    ran = cli("pipeline", "run", "--local", *flags, "--execution-name", "first", "--json", timeout=300)
    assert ran.code == 0, ran.err
    assert "ok Tune: Succeeded" in ran.err and "ok Deployed: Succeeded" in ran.err
    trial = re.search(r"ok Best trial: Succeeded - TrainingJobName=(\S+)", ran.err)
    assert trial, ran.err
    # The tuning job is <pipeline>-<8 hex>, its trials <tuning-job>-NNN-<8 hex>, as SageMaker names them.
    tuning = re.fullmatch(r"(ptune-[0-9a-f]{8})-00[1-3]-[0-9a-f]{8}", trial[1])
    assert tuning, trial[1]
    shown = cli("show", tuning[1])
    assert shown.code == 0 and f"best job     {trial[1]}" in shown.out, shown.out  # the tuner's best goes on
    packages = cli("models", "ptune", "--json")
    assert packages.code == 0, packages.err
    assert [package["TrainingJobName"] for package in packages.json()] == [trial[1]]  # registered
    served = [run for run in cli("ls", "--json").json_lines() if run["endpoints"]]
    assert [(run["name"], [e["name"] for e in run["endpoints"]]) for run in served] == [(trial[1], ["ptune"])]

    again = cli("pipeline", "run", "--local", "--definition", "ptune.asl.json", "--execution-name", "second",
                timeout=300)  # the exported file itself: a second tuning job, the endpoint updated in place
    assert again.code == 0, again.err
    assert "ok Tune: Succeeded" in again.err and "ok Update endpoint: Succeeded" in again.err
    assert cli("teardown", "ptune").code == 0


def test_a_tuner_whose_trials_all_fail_exits_1_with_the_first_failures_reason(cli: Cli) -> None:
    data = cli("prepare", "--json").json()
    failed = cli(*tune_args(data, "--range", "x=continuous:0.1:1", "--strategy", "Random", "--max-jobs", "2",
                            "--job-name", "all-fail"))  # penguins.py takes no -x: every trial fails
    assert failed.code == 1, failed.err
    assert "All 2 training jobs failed. First failure: AlgorithmError" in failed.err
    assert "unrecognized arguments: -x" in failed.err and "Traceback" not in failed.err
    shown = cli("show", "all-fail")
    assert shown.code == 0 and "Failed" in shown.out and "First failure" in shown.out, shown.out
    no_chart = cli("show", "all-fail", "--plot", "none.png")
    assert no_chart.code == 2 and "no trial has an objective value to plot" in no_chart.err, no_chart.err
    assert not (cli.cwd / "none.png").exists()
    for command in (["deploy", "all-fail"], ["register", "all-fail", "--group", "never"]):
        refused = cli(*command)
        assert refused.code == 1 and "tuning job all-fail has no completed trial" in refused.err, refused.err
        assert "Traceback" not in refused.err


def test_a_tuned_pipeline_whose_trials_all_fail_says_the_first_failure(cli: Cli) -> None:
    data = cli("prepare", "--json").json()
    ran = cli("pipeline", "run", "--local", "--name", "pfail", "--entry-point", "penguins.py", "--source-dir",
              "entry_points", "--channel", f"train={data['train']}", "--channel", f"test={data['test']}",
              "--hp", "target=sex", *SEARCH, "--gate-metric", "test_accuracy", "--gate-threshold", "0.5", "--tune",
              "--range", "x=continuous:0.1:1", "--strategy", "Random", "--max-jobs", "2", "--max-parallel", "2",
              "--execution-name", "failing", timeout=300)  # penguins.py takes no -x: every trial fails
    assert ran.code == 1, ran.err
    said = re.search(r"execution failing: FAILED \(States.TaskFailed: (pfail-[0-9a-f]{8}) Failed: "
                     r"All 2 training jobs failed\. First failure: AlgorithmError", ran.err)
    assert said, ran.err
    assert "unrecognized arguments: -x" in ran.err and "Traceback" not in ran.err
    status = cli("pipeline", "status", "--name", "pfail", "failing")
    assert f"error: States.TaskFailed: {said[1]} Failed: All 2 training jobs failed" in status.out, status.out
    unregistered = cli("models", "pfail", "--json")
    assert unregistered.code == 1 and "model package group pfail not found" in unregistered.err  # nothing registered
