"""register --evaluation from the command line: bad evaluation jobs are clear errors and register nothing."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Cli
from tests.e2e.test_cli_local import fit_args, prepare

pytestmark = pytest.mark.e2e


def test_register_with_a_bad_evaluation_job_registers_nothing(cli: Cli) -> None:
    data = prepare(cli)
    fit = cli(*fit_args(data, "--job-name", "eval-reg-1"))
    assert fit.code == 0, fit.err
    for evaluation in ("no-such-eval", "../escape"):
        for command in (("register",), ("plan", "register")):
            done = cli(*command, "eval-reg-1", "--group", "penguins", "--evaluation", evaluation)
            assert done.code != 0
            assert "--evaluation" in done.err and "Traceback" not in done.err
            assert "unexpected" not in done.err.lower()
    assert cli("models", "--json").json() == []
    plain = cli("register", "eval-reg-1", "--group", "penguins")
    assert plain.code == 0, plain.err
