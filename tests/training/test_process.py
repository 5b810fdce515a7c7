"""The training process's own settings, made by the package before numpy is imported."""

import os
import subprocess
import sys

import pytest

# numpy's answer to "was huge-page advice on?" when it is switched on after import.
ASK = "import training, numpy; print(numpy._core.multiarray._set_madvise_hugepage(True))"


@pytest.mark.parametrize(("setting", "advised"), [(None, "False"), ("1", "True"), ("0", "False")])
def test_huge_page_advice_is_off_unless_the_environment_asks_for_it(setting, advised):
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if setting is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = setting
    result = subprocess.run(
        [sys.executable, "-c", ASK], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == advised
