"""Secret files (``var/secret-key``, ``var/demo-login``) are owner-only (0600) from the
moment they exist: created with that mode by ``os.open``, never chmod-ed after writing,
and put in place whole (issue 12 §6, docs/operations.md)."""

import json
import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from oncall import demo
from oncall.env import private_value, write_private
from tests.processes import ROOT, child_env

# Runs Django's settings in a fresh process with umask 0 (anything not created 0600 would
# be world-readable) and reports every open() of a file in the data directory.
PROBE = """
import json, os, sys
data = os.environ["ONCALL_DATA_DIR"]
opened = []
def hook(event, args):
    if event == "open" and str(args[0]).startswith(data):
        opened.append([str(args[0]), args[1], args[2]])
sys.addaudithook(hook)
os.umask(0)
import django
django.setup()
from django.conf import settings
print(json.dumps({"key": settings.SECRET_KEY, "opened": opened}))
"""


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_generated_secret_key_is_created_owner_only_by_os_open(tmp_path):
    env = child_env(ONCALL_DATA_DIR=str(tmp_path), SECRET_KEY=None)
    env.pop("SECRET_KEY", None)
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.splitlines()[-1])

    key_file = tmp_path / "secret-key"
    assert mode(key_file) == 0o600
    assert key_file.read_text().strip() == report["key"]
    writes = [(path, how, flags) for path, how, flags in report["opened"] if how != "r"]
    # os.open reports no mode string; Path.write_text would report "w" (and chmod later).
    assert writes and all(how is None for _, how, _ in writes), writes
    assert all(flags & os.O_CREAT and flags & os.O_EXCL for _, _, flags in writes), writes


def test_processes_starting_at_once_agree_on_one_generated_key(tmp_path):
    path = tmp_path / "secret-key"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda n: private_value(path, f"key-{n}"), range(32)))

    assert len(keys) == 1
    assert mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret-key"]  # no temporary left


def test_a_private_file_is_replaced_whole_and_a_symlink_is_not_followed(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("public\n")
    elsewhere.chmod(0o644)
    planted = tmp_path / "var" / "demo-login"
    planted.parent.mkdir()
    planted.symlink_to(elsewhere)

    write_private(planted, "admin\nsecret\n")

    assert elsewhere.read_text() == "public\n"  # the password did not land there
    assert not planted.is_symlink() and mode(planted) == 0o600
    assert planted.read_text() == "admin\nsecret\n"


@pytest.mark.django_db
def test_the_demo_login_file_is_owner_only_and_not_written_through_a_symlink(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    readable = tmp_path / "readable-by-all"
    readable.write_text("")
    readable.chmod(0o644)
    (tmp_path / demo.LOGIN_FILE).symlink_to(readable)
    previous = os.umask(0)
    try:
        username, password = demo.load_if_empty()
    finally:
        os.umask(previous)

    login_file = tmp_path / demo.LOGIN_FILE
    assert not login_file.is_symlink() and mode(login_file) == 0o600
    assert login_file.read_text() == f"{username}\n{password}\n"
    assert readable.read_text() == ""
