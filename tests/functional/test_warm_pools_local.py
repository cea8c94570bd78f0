"""--keep-alive on the local backend: accepted, a note, and the job runs as without it."""

from __future__ import annotations

from pathlib import Path


def test_locally_the_flag_is_accepted_and_only_noted(tmp_path: Path) -> None:
    from smtrain.api.session import Session
    from smtrain.execution.executor import QuietReporter
    from tests.helpers import wait_until

    class Notes(QuietReporter):
        said: list[str] = []

        def info(self, message: str) -> None:
            self.said.append(message)

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print('hi')\n")
    reporter = Notes()
    session = Session(backend="local", home=str(tmp_path / "home"), reporter=reporter)
    job = session.fit("train.py", source_dir=tmp_path / "src", channels={}, job_name="warm-1",
                      keep_alive_seconds=600, wait=False)
    assert any(note.startswith("note: --keep-alive has no effect on the local backend") for note in reporter.said)
    assert wait_until(lambda: session.job("warm-1").status in ("Completed", "Failed"), timeout=60)
    assert session.job("warm-1").status == "Completed", session.job("warm-1").failure_reason
    assert job.name == "warm-1"
