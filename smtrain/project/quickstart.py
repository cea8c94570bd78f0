"""The penguins workflow: prepare, fit, deploy, predict, tear down."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from smtrain.api.session import Session
from smtrain.core.errors import UsageError

ENTRY_POINT = "penguins.py"
PROJECT_SOURCE_DIR = Path("entry_points")  # where `smtrain init` puts the script, as in the checkout
SAMPLE_ROWS = 10


@dataclass(frozen=True)
class QuickstartResult:
    job_name: str
    job_status: str
    endpoint_name: str
    predictions: list[str]
    truth: list[str]
    accuracy: float


def run_quickstart(session: Session, source_dir: Path | None = None, *, keep: bool = False) -> QuickstartResult:
    """``source_dir`` None: ``entry_points/`` of the project when it holds the script, else the packaged one."""
    say = session.reporter.info
    source_dir = choose_source_dir(source_dir, say)
    say("1/4 prepare: the Palmer penguins")
    data = session.prepare()
    say(f"2/4 fit: {source_dir / ENTRY_POINT}")
    job = session.fit(ENTRY_POINT, source_dir=source_dir, channels={"train": data.train_uri},
                      hyperparameters=data.hyperparameters(),
                      metric_definitions={"train:accuracy": r"train_accuracy=([0-9.]+)"})
    if job.status != "Completed":
        say(f"training {job.status}: {job.failure_reason}")
        return QuickstartResult(job.name, job.status, "", [], [], 0.0)
    say("3/4 deploy")
    endpoint = session.deploy(job.name)
    try:
        return predict_and_score(session, job.name, endpoint.name, data.prepared.test_dir)
    finally:
        if keep:
            from smtrain.core.hints import suggest

            say(f"endpoint {endpoint.name} left running at {endpoint.url}; "
                f"remove it: {suggest(session.config, 'teardown', endpoint.name)}")
        else:
            say(f"tearing down: {', '.join(session.teardown(endpoint.name))}")
        say(next_steps(job.name, source_dir))


def choose_source_dir(source_dir: Path | None, say: Callable[[str], object]) -> Path:
    from smtrain.project.init import packaged_source_dir

    if source_dir is not None:
        if not (source_dir / ENTRY_POINT).is_file():
            raise UsageError(f"{source_dir / ENTRY_POINT} not found", where="--source-dir",
                             hint="pass the folder holding penguins.py, or leave --source-dir out to use the example")
        return source_dir
    if (PROJECT_SOURCE_DIR / ENTRY_POINT).is_file():
        return PROJECT_SOURCE_DIR
    packaged = packaged_source_dir()
    say(f"using the packaged example {packaged / ENTRY_POINT} (no {PROJECT_SOURCE_DIR / ENTRY_POINT} here; "
        "`smtrain init` writes your own copy)")
    return packaged


def example_source_dir() -> str:
    """What a hint names as ``--source-dir``: the project's ``entry_points`` if it has the script, else the
    packaged example, so the hint runs where it is printed."""
    from smtrain.project.init import packaged_source_dir

    return str(PROJECT_SOURCE_DIR if (PROJECT_SOURCE_DIR / ENTRY_POINT).is_file() else packaged_source_dir())


def next_steps(job_name: str, source_dir: Path) -> str:
    """The three commands a new user runs next: look at the run, change the script, go to SageMaker."""
    import shlex

    own = source_dir == PROJECT_SOURCE_DIR
    edit = (f"$EDITOR {source_dir / ENTRY_POINT} && smtrain quickstart" if own
            else f"smtrain init . && $EDITOR {PROJECT_SOURCE_DIR / ENTRY_POINT} && smtrain quickstart")
    return "\n".join([
        "next:",
        f"  smtrain ls                              # the job you just trained ({job_name}), its metrics",
        f"  {edit}   # change the model, train and serve again",
        "  smtrain plan fit --backend sagemaker --region us-east-1 --role arn:aws:iam::111122223333:role/Demo \\",
        f"      --entry-point penguins.py --source-dir {shlex.quote(str(source_dir))} "
        "--channel train=data/penguins/train",
        "                                          # the exact SageMaker requests, sent nowhere: no AWS account needed",
    ])


def predict_and_score(session: Session, job_name: str, endpoint_name: str, test_dir: Path) -> QuickstartResult:
    from smtrain.project.data import load_test

    X_test, y_test = load_test(test_dir)
    say = session.reporter.info
    say(f"4/4 predict: the first {SAMPLE_ROWS} test rows through the endpoint")
    sample = [str(p) for p in session.predict(endpoint_name, X_test.head(SAMPLE_ROWS))]
    say(f"{'predicted':>10}  {'actual':>8}")
    for predicted, actual in zip(sample, y_test[:SAMPLE_ROWS], strict=False):
        say(f"{predicted:>10}  {actual!s:>8}{'' if predicted == str(actual) else '  x'}")
    predictions = [str(p) for p in session.predict(endpoint_name, X_test)]
    truth = [str(t) for t in y_test]
    accuracy = sum(p == t for p, t in zip(predictions, truth, strict=False)) / len(truth)
    say(f"test accuracy: {accuracy:.3f} on {len(truth)} rows")
    return QuickstartResult(job_name, "Completed", endpoint_name, predictions, truth, accuracy)
