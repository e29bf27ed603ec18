"""The README's aws CLI walkthrough runs as written (only the port differs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from harness import Server, require_prerequisites

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough_script() -> str:
    text = README.read_text()
    block = re.search(r"<!-- walkthrough:start -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S)
    assert block, "README has no walkthrough block"
    return block.group(1)


def test_readme_walkthrough(tmp_path: Path) -> None:
    require_prerequisites()
    # Given a server started like `make run` does: data in ./.lambent, credentials generated
    srv = Server(tmp_path / ".lambent")
    env = srv.env()
    env.pop("LAMBENT_ROOT_ACCESS_KEY_ID")
    env.pop("LAMBENT_ROOT_SECRET_ACCESS_KEY")
    srv.env = lambda: env  # type: ignore[method-assign]
    srv.start()
    try:
        script = "set -euo pipefail\n" + walkthrough_script().replace("127.0.0.1:9900", f"127.0.0.1:{srv.port}")
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        run_env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + run_env["PATH"]
        # When the walkthrough runs in the directory that holds .lambent
        result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=300)
        # Then every command succeeds and the outputs are what the README says
        assert result.returncode == 0, result.stdout + result.stderr
        assert '{"greeting": "Hello, lambent!"}' in result.stdout
        assert "START RequestId:" in result.stdout and "REPORT RequestId:" in result.stdout
        assert "invoked as hello" in result.stdout
        assert "256" in result.stdout
    finally:
        srv.stop()
        srv.cleanup()
