import subprocess
import sys

import smtrain


def test_all_names_resolve() -> None:
    for name in smtrain.__all__:
        assert getattr(smtrain, name) is not None


def test_help_imports_no_data_stack_nor_sdk() -> None:
    code = (
        "import sys\n"
        "from smtrain.cli import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "heavy = ('pandas', 'sklearn', 'numpy', 'boto3', 'botocore', 'sagemaker', 'rich')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
