"""Every task is queued through oncall.enqueue: a bare ``.delay()`` in a commit hook
raises when Redis is down and turns a request whose data was stored into a 500."""

import re

from tests.processes import ROOT

PUBLISH = re.compile(r"\.(delay|apply_async|send_task)\(")


def test_no_code_publishes_a_task_except_through_the_enqueue_helper():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for app in ("oncall", "rotations", "escalation")
        for path in sorted((ROOT / app).rglob("*.py"))
        if path != ROOT / "oncall" / "enqueue.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PUBLISH.search(line)
    ]
    assert offenders == [], "use oncall.enqueue.enqueue / enqueue_on_commit"
