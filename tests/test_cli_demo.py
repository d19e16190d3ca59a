"""`deconflict demo` (the README's main job) runs end to end on a small scenario."""

import re

from typer.testing import CliRunner

from deconflict.cli import app


def test_demo_files_online_and_agrees_with_the_batch() -> None:
    result = CliRunner().invoke(app, ["demo", "--volumes", "3000", "--seed", "3", "--show", "5"])
    assert result.exit_code == 0, result.output
    assert "Online and batch results agree" in result.output
    found = re.search(r"Batch check of the whole plan: ([\d,]+) conflicts", result.output)
    assert found is not None and int(found.group(1).replace(",", "")) > 0
