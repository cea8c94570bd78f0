"""`smtrain fit --channel train=s3://...` on the local backend, as a user runs it (moto's server as S3)."""

from __future__ import annotations

from pathlib import Path

import boto3

from tests.e2e.conftest import Cli

SCRIPT = """
import os, sys
rows = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "rows.csv")).read().splitlines()
print(f"read {len(rows)} rows")
sys.exit(0 if rows == ["a,b", "1,2"] else 1)
"""


def test_a_local_fit_reads_its_channel_from_s3_and_reuses_the_download(cli: Cli, workdir: Path,
                                                                      moto_url: str) -> None:
    cli.env.update(AWS_ENDPOINT_URL=moto_url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="us-east-1", XDG_CACHE_HOME=str(workdir.parent / "user-cache"))
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")
    s3.create_bucket(Bucket="cli-data")
    s3.put_object(Bucket="cli-data", Key="penguins/train/rows.csv", Body=b"a,b\n1,2\n")
    (workdir / "src").mkdir()
    (workdir / "src" / "train.py").write_text(SCRIPT)
    for name in ("s3-job-1", "s3-job-2"):
        result = cli("fit", "--entry-point", "train.py", "--source-dir", "src", "--job-name", name,
                     "--channel", "train=s3://cli-data/penguins/train/")
        assert result.code == 0, result.err
        assert "read 2 rows" in result.out + result.err
    blobs = list((workdir.parent / "user-cache" / "smtrain" / "s3" / "blobs").iterdir())
    assert len(blobs) == 1  # downloaded once: the second job found the same ETag in the cache
