"""The top-level help, saved so that `smtrain --help` needs no CLI import.

Regenerate with `python -m smtrain.help_text`; tests/unit/test_help_text.py fails when it is stale.
"""

TOP_LEVEL_HELP = "Usage: smtrain [OPTIONS] COMMAND [ARGS]...\n\n  Train and deploy scikit-learn models on SageMaker, or on this machine.\n\n  The local backend (the default) needs no AWS account and no Docker. Start with `smtrain\n  quickstart`, which prepares the Palmer penguins data, trains, deploys, predicts and tears down,\n  all locally.\n\nOptions:\n  --version   Show the version and exit.\n  -h, --help  Show this message and exit.\n\nCommands:\n  checkout    Write a run's source code (and with --model its model) into DIRECTORY (default...\n  ci          Continuous integration: a workflow that trains on SageMaker and reports on pull...\n  deploy      Serve a completed job's model at an endpoint (created, or updated if it exists).\n  diff        Compare two runs (SECOND against FIRST): metrics with deltas, hyperparameters,...\n  fit         Run a training job and follow it: exit 0 if it completed, 1 if it failed or was...\n  logs        Print a training job's log (live while it runs).\n  ls          List runs, local and on SageMaker, with hyperparameters, metrics, tags and...\n  plan        Print the exact API requests a command would send, and send nothing.\n  predict     Send one request to an endpoint and print the answer (body from --body, --file or...\n  prepare     Clean and split a dataset, write train/test CSVs and sync them.\n  quickstart  Prepare the penguins, train, deploy, predict 10 rows, tear down.\n  register    Register a completed job's model in the model registry.\n  report      Markdown for a pull request: metrics with deltas, hyperparameters, environment,...\n  show        Everything about one run: hyperparameters, metrics over time, code, environment,...\n  stop        Stop a running training job.\n  teardown    Remove an endpoint, its endpoint config and its model.\n\n  Every command takes --backend local|sagemaker, --region, --profile, --role, --bucket, --home,\n  --debug. Settings come from flags, then the environment and .env (SMTRAIN_*), then smtrain.toml.\n"


def render() -> str:
    from smtrain.cli import cli

    with cli.make_context("smtrain", ["--help"], resilient_parsing=True) as ctx:
        return cli.get_help(ctx) + "\n"


if __name__ == "__main__":
    from pathlib import Path

    path = Path(__file__)
    text = path.read_text()
    start = text.index("TOP_LEVEL_HELP = ")
    end = text.index("\n\n\ndef render")
    path.write_text(text[:start] + f"TOP_LEVEL_HELP = {render()!r}" + text[end:])
