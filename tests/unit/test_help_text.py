import subprocess
import sys

from smtrain import help_text


def test_saved_help_is_what_the_cli_renders() -> None:
    assert help_text.render() == help_text.TOP_LEVEL_HELP, "run: python -m smtrain.help_text"


def test_console_script_prints_it_without_importing_click() -> None:
    code = (
        "import sys\nsys.argv = ['smtrain', '--help']\n"
        "from smtrain.entry import main\nmain()\nprint('click' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("Usage: smtrain")
    assert out.strip().endswith("False")
