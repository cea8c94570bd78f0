"""`fit --instance-count N` locally: N processes, algo-1 ... algo-N, as SageMaker runs N containers.

Each host reads its own resourceconfig.json; a ShardedByS3Key channel gives each its own share of the
files (round-robin in S3 key order); the job fails when any host fails; the outputs kept are every
host's model/ and output/data/ merged; metrics are algo-1's. With and without a job namespace.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from smtrain.backends.local.jobs import hosts, sandbox
from smtrain.backends.local.jobs.processes import is_alive
from tests.functional.test_local_training import Jobs, members
from tests.helpers import wait_until

HOST_SCRIPT = """
import json, os, sys
resources = json.load(open(os.path.join(os.environ["SM_INPUT_CONFIG_DIR"], "resourceconfig.json")))
me = resources["current_host"]
channel = os.environ["SM_CHANNEL_TRAIN"]
files = sorted(os.path.relpath(os.path.join(d, f), channel) for d, _, fs in os.walk(channel) for f in fs)
whole = sorted(os.listdir(os.environ["SM_CHANNEL_ALL"]))
seen = {"resources": resources, "env_host": os.environ["SM_CURRENT_HOST"], "hosts": json.loads(os.environ["SM_HOSTS"]),
        "files": files, "whole": whole, "model_dir": os.environ["SM_MODEL_DIR"]}
with open(os.path.join(os.environ["SM_MODEL_DIR"], me + ".json"), "w") as f:
    json.dump(seen, f)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "shared.txt"), "w") as f:
    f.write(me)
with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], me + ".txt"), "w") as f:
    f.write("report")
print(f"accuracy={0.9 if me == 'algo-1' else 0.1}")
"""


@pytest.fixture
def jobs(tmp_path: Path) -> Jobs:
    return Jobs(tmp_path)


def run_hosts(jobs: Jobs, name: str, script: str, count: int, *, sharded: tuple[str, ...] = ("train",)) -> dict:
    files = jobs.root / "files"
    (files / "part").mkdir(parents=True)
    for key in ("b.csv", "a.csv", "c.csv", "part/d.csv", "e.csv"):
        (files / key).write_text(key)
    request = jobs.request(name, script, instance_count=count, sharded=sharded,
                           metric_definitions={"accuracy": r"accuracy=([0-9.]+)"})
    request["InputDataConfig"].append({**copy.deepcopy(request["InputDataConfig"][0]), "ChannelName": "all"})
    for channel in request["InputDataConfig"]:
        channel["DataSource"]["S3DataSource"]["S3Uri"] = f"file://{files}"
    request["InputDataConfig"][1]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "FullyReplicated"
    jobs.sm.create_training_job(**request)
    return jobs.wait(name, timeout=120)


def test_shards_are_round_robin_in_s3_key_order() -> None:
    keys = sorted(["b", "a", "part/d", "c", "e", "B"], key=str.encode)
    assert keys == ["B", "a", "b", "c", "e", "part/d"]
    assert [hosts.shard(keys, i, 3) for i in range(3)] == [["B", "c"], ["a", "e"], ["b", "part/d"]]
    assert hosts.shard(["only"], 1, 2) == []  # more hosts than files: some get none, as the API reference warns


@pytest.mark.parametrize("namespace", ["auto", "off"])
def test_three_hosts_each_see_their_own_host_and_shard(jobs: Jobs, monkeypatch: pytest.MonkeyPatch,
                                                       namespace: str) -> None:
    monkeypatch.setenv(sandbox.VARIABLE, namespace)
    job = run_hosts(jobs, f"three-{namespace}", HOST_SCRIPT, 3)

    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    model = members(job["ModelArtifacts"]["S3ModelArtifacts"])
    assert set(model) == {"algo-1.json", "algo-2.json", "algo-3.json", "shared.txt"}
    assert model["shared.txt"] == b"algo-3"  # the same name from every host: the last host's is kept
    seen = {host: json.loads(model[f"{host}.json"]) for host in ("algo-1", "algo-2", "algo-3")}
    for host, view in seen.items():
        assert view["resources"]["current_host"] == view["env_host"] == host
        assert view["resources"]["hosts"] == view["hosts"] == ["algo-1", "algo-2", "algo-3"]
        assert view["resources"]["instance_groups"][0]["hosts"] == ["algo-1", "algo-2", "algo-3"]
        assert view["whole"] == ["a.csv", "b.csv", "c.csv", "e.csv", "part"]  # FullyReplicated: all of it
    # S3 key order a, b, c, e, part/d dealt round-robin
    assert [seen[h]["files"] for h in ("algo-1", "algo-2", "algo-3")] == [["a.csv", "e.csv"], ["b.csv", "part/d.csv"],
                                                                          ["c.csv"]]
    if namespace == "off" or not sandbox.namespace("auto").active:
        assert seen["algo-2"]["model_dir"] == str(jobs.home.job_dir(job["TrainingJobName"]) / "hosts/algo-2/model")
    else:
        assert {view["model_dir"] for view in seen.values()} == {"/opt/ml/model"}
    output = members(job["ModelArtifacts"]["S3ModelArtifacts"].replace("model.tar.gz", "output.tar.gz"))
    assert set(output) == {"algo-1.txt", "algo-2.txt", "algo-3.txt"}
    assert [m["MetricName"] + "=" + str(m["Value"]) for m in job["FinalMetricDataList"]] == ["accuracy=0.9"]
    log = jobs.home.job_log(job["TrainingJobName"]).read_text()
    assert "[algo-2] accuracy=0.1" in log and "[algo-3] accuracy=0.1" in log


def test_one_failing_host_fails_the_job_and_stops_the_others(jobs: Jobs) -> None:
    script = """
import json, os, sys, time
me = json.load(open(os.path.join(os.environ["SM_INPUT_CONFIG_DIR"], "resourceconfig.json")))["current_host"]
if me == "algo-2":
    raise RuntimeError("algo-2 ran out of luck")
time.sleep(120)
"""
    job = run_hosts(jobs, "one-fails", script, 3, sharded=())

    assert job["TrainingJobStatus"] == "Failed"
    assert "RuntimeError: algo-2 ran out of luck" in job["FailureReason"]
    assert "ExitCode 1" in job["FailureReason"]
    assert "smtrain: algo-2 exited with code 1" in jobs.home.job_log("one-fails").read_text()


def test_a_sharded_channel_must_be_one_of_the_jobs(jobs: Jobs) -> None:
    from smtrain.core.errors import UsageError
    from smtrain.planning.limits import check_training

    with pytest.raises(UsageError, match="--sharded tran: no channel of that name") as error:
        check_training("train.py", {"train": "data"}, {}, "", {"sharded": ("tran",)})
    assert "train" in str(error.value.hint)


def test_the_request_says_sharded_by_s3_key(jobs: Jobs) -> None:
    request: dict[str, Any] = jobs.request("plan-only", "print(1)", sharded=("train",), instance_count=2)

    assert request["ResourceConfig"]["InstanceCount"] == 2
    assert request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "ShardedByS3Key"


def test_stop_ends_every_host(jobs: Jobs) -> None:
    pids = jobs.root / "pids"
    pids.mkdir()
    script = f"""
import json, os, time
me = json.load(open(os.path.join(os.environ["SM_INPUT_CONFIG_DIR"], "resourceconfig.json")))["current_host"]
open(os.path.join({str(pids)!r}, me), "w").write(str(os.getpid()) + "\\n")
time.sleep(120)
"""
    jobs.sm.create_training_job(**jobs.request("stop-hosts", script, instance_count=3))
    assert wait_until(lambda: len(list(pids.iterdir())) == 3, timeout=60)
    host_pids = [int((pids / name).read_text()) for name in ("algo-1", "algo-2", "algo-3")]

    jobs.sm.stop_training_job(TrainingJobName="stop-hosts")
    job = jobs.wait("stop-hosts", timeout=30)

    assert job["TrainingJobStatus"] == "Stopped"
    assert wait_until(lambda: not any(is_alive(pid) for pid in host_pids), timeout=10)


def test_the_python_api_names_its_own_argument(home: Path, tmp_path: Path) -> None:
    from smtrain.api.session import Session
    from smtrain.core.errors import ArgumentError

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("print(1)\n")
    session = Session(quiet=True)

    with pytest.raises(ArgumentError, match="sharded") as error:
        session.fit("train.py", source_dir=tmp_path / "src", channels={"train": str(tmp_path)}, sharded="tran",
                    wait=False)
    assert "--sharded" not in str(error.value)
    assert "sharded='tran': no channel of that name" in str(error.value)
    assert "channels (train)" in str(error.value)
