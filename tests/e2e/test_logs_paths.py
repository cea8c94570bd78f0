"""`smtrain logs JOB` shows a failed job's traceback in the user's own files, as `smtrain fit` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Cli
from tests.e2e.test_cli_sagemaker import Moto, aws, cache_home, fit_args, moto, sm, write_log  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e

SCRIPT = '''\
def main():
    raise ValueError("no penguins today")


if __name__ == "__main__":
    main()
'''


def test_logs_map_traceback_paths_to_the_submitted_source_dir(cli: Cli, workdir: Path) -> None:
    (workdir / "src").mkdir()
    (workdir / "src" / "broken.py").write_text(SCRIPT)
    fit = cli("fit", "--entry-point", "broken.py", "--source-dir", "src", "--job-name", "broken-1")
    assert fit.code == 1, fit.err
    assert 'File "src/broken.py", line 6' in fit.err

    for args in (["logs", "broken-1"], ["logs", "broken-1", "--no-follow"]):
        logs = cli(*args)
        assert logs.code == (1 if "--no-follow" not in args else 0), logs.err
        assert 'File "src/broken.py", line 6, in <module>' in logs.out
        assert 'File "src/broken.py", line 2, in main' in logs.out
        assert "/code/broken.py" not in logs.out + logs.err  # never the job's copy
        assert "ValueError: no penguins today" in logs.out

    # From inside the source dir, the path is the one the user sees there.
    inside = Cli(workdir / "src", cli.env)("logs", "broken-1", "--no-follow")
    assert inside.code == 0, inside.err
    assert 'File "broken.py", line 6, in <module>' in inside.out


def test_logs_map_the_images_code_folder_on_sagemaker(sm: Cli, aws: Moto) -> None:  # noqa: F811 (fixtures)
    """On SageMaker the traceback names /opt/ml/code/ (moto runs no job: the test writes its log)."""
    write_log(aws, "tb-sm", "Traceback (most recent call last):",
              '  File "/opt/ml/code/penguins.py", line 3, in <module>', "ValueError: no penguins today")
    fit = sm(*fit_args("tb-sm"))
    assert fit.code == 0, fit.err
    logs = sm("logs", "tb-sm")
    assert logs.code == 0, logs.err
    assert '  File "entry_points/penguins.py", line 3, in <module>' in logs.out.splitlines()
    assert "/opt/ml/code/" not in logs.out
