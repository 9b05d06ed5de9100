"""The action half of wait_for_run: how often a job is checked, and reading a local job file
without a module run (plugins/action/wait_for_run.py)."""
import json

from ansible_collections.kubedr.backup.plugins.action.wait_for_run import local_job_ended, poll_delay


def test_a_job_is_checked_every_second_first_then_every_five():
    assert [poll_delay(elapsed, 10) for elapsed in (0, 3.5, 9.9)] == [1.0, 1.0, 1.0]
    assert [poll_delay(elapsed, 10) for elapsed in (10, 60, 3600)] == [5.0, 5.0, 5.0]


def test_a_local_job_is_checked_every_tenth_of_a_second_first_then_every_second():
    assert [poll_delay(elapsed, 10, local=True) for elapsed in (0, 3.5, 9.9)] == [0.1, 0.1, 0.1]
    assert [poll_delay(elapsed, 10, local=True) for elapsed in (10, 60, 3600)] == [1.0, 1.0, 1.0]


def test_never_less_often_than_the_users_interval():
    assert poll_delay(0, 1) == 1
    assert poll_delay(30, 2) == 2
    assert poll_delay(30, 30) == 5.0


def test_a_local_job_file_says_whether_the_job_ended(tmp_path):
    job = tmp_path / "123.456"
    job.write_text(json.dumps({"started": 1, "finished": 0, "ansible_job_id": "123.456"}))
    assert not local_job_ended(str(job))
    job.write_text('{"started": 1, "finis')  # being rewritten
    assert not local_job_ended(str(job))
    job.write_text(json.dumps({"changed": True, "phase": "Completed"}))  # the module's result
    assert local_job_ended(str(job))
    job.write_text(json.dumps({"started": 1, "finished": 1, "failed": True}))
    assert local_job_ended(str(job))


def test_a_missing_job_file_is_left_to_async_status(tmp_path):
    assert local_job_ended(str(tmp_path / "gone"))  # async_status then fails with "could not find job"
