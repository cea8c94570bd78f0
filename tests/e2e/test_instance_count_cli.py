"""`smtrain fit --instance-count 2 --sharded train` as a user runs it, and `--sharded` naming no channel."""

from __future__ import annotations

import json
import tarfile

from tests.e2e.conftest import Cli

SCRIPT = """
import json, os
me = os.environ["SM_CURRENT_HOST"]
files = sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))
with open(os.path.join(os.environ["SM_MODEL_DIR"], me + ".json"), "w") as f:
    json.dump(files, f)
"""


def test_two_instances_each_train_on_their_shard(cli: Cli) -> None:
    (cli.cwd / "src").mkdir()
    (cli.cwd / "src" / "train.py").write_text(SCRIPT)
    data = cli.cwd / "data"
    data.mkdir()
    for name in ("1.csv", "2.csv", "3.csv"):
        (data / name).write_text("x\n")

    done = cli("fit", "--entry-point", "train.py", "--source-dir", "src", "--channel", "train=data",
               "--instance-count", "2", "--sharded", "train", "--json")

    assert done.code == 0, done.err
    job = done.json()
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "ShardedByS3Key"
    model = job["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("file://")
    with tarfile.open(model) as tar:
        seen = {m.name: json.load(tar.extractfile(m)) for m in tar.getmembers() if m.isfile()}  # type: ignore[arg-type]
    assert seen == {"algo-1.json": ["1.csv", "3.csv"], "algo-2.json": ["2.csv"]}


def test_sharded_must_name_a_channel(cli: Cli) -> None:
    done = cli("plan", "fit", "--entry-point", "penguins.py", "--source-dir", "entry_points",
               "--channel", "train=entry_points", "--sharded", "tran")

    assert done.code == 2
    assert "--sharded tran: no channel of that name" in done.err and "Traceback" not in done.err
