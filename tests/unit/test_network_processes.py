"""Pid files identify exactly the process we started; stop() never signals a stranger."""

import sys
import time

from tdses.local import processes


def test_start_then_stop_a_process_group(tmp_path):
    pid_file = tmp_path / "run" / "sleeper.pid"
    pid = processes.start([sys.executable, "-c", "import time; time.sleep(60)"], {}, tmp_path / "sleeper.log",
                          pid_file, cwd=tmp_path)
    assert processes.running_pid(pid_file) == pid
    assert processes.stop(pid_file) is True
    assert processes.running_pid(pid_file) is None and not pid_file.exists()
    assert processes.stop(pid_file) is False  # twice is harmless


def test_a_reused_pid_is_not_ours(tmp_path):
    pid_file = tmp_path / "other.pid"
    pid_file.write_text(f"1 0\n")  # pid 1 exists, but it did not start at time 0
    assert processes.running_pid(pid_file) is None
    assert processes.stop(pid_file) is False


def test_garbage_pid_files_are_ignored(tmp_path):
    pid_file = tmp_path / "garbage.pid"
    pid_file.write_text("not a pid")
    assert processes.running_pid(pid_file) is None


def test_wait_until_reports_a_process_that_died(tmp_path):
    pid_file, log = tmp_path / "dies.pid", tmp_path / "dies.log"
    processes.start([sys.executable, "-c", "print('boom'); raise SystemExit(3)"], {}, log, pid_file, cwd=tmp_path)
    time.sleep(0.5)
    try:
        processes.wait_until(lambda: False, "dies", 10, pid_file, log)
    except Exception as exc:  # noqa: BLE001
        assert "dies exited during start-up" in str(exc) and "boom" in str(exc)
    else:
        raise AssertionError("wait_until did not notice the dead process")
