"""The action half of wait_for_run: how often a job is checked, and reading a local job file
without a module run (plugins/action/wait_for_run.py)."""
import json

from ansible_collections.kubedr.backup.plugins.action.wait_for_run import ActionModule, local_job_ended, poll_delay


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


def _action_cleaning_up(calls):
    action = ActionModule.__new__(ActionModule)  # only _clean_up is exercised: no task, no connection
    action._execute_module = lambda **kwargs: calls.append(kwargs)
    return action


def test_a_local_job_file_is_removed_without_a_module_run(tmp_path):
    (tmp_path / "123.456").write_text(json.dumps({"changed": True}))
    calls = []
    _action_cleaning_up(calls)._clean_up({}, "123.456", str(tmp_path), local=True)
    assert not (tmp_path / "123.456").exists() and calls == []
    _action_cleaning_up(calls)._clean_up({}, "123.456", str(tmp_path), local=True)  # gone already: nothing to do
    assert calls == []


def test_a_job_file_not_removable_here_or_remote_is_left_to_async_status(tmp_path):
    (tmp_path / "123.456").mkdir()  # unlink refuses it, as it would refuse another user's file
    calls = []
    _action_cleaning_up(calls)._clean_up({}, "123.456", str(tmp_path), local=True)
    _action_cleaning_up(calls)._clean_up({}, "789.012", "/remote/async", local=False)
    assert [(c["module_name"], c["module_args"]) for c in calls] == [
        ("ansible.legacy.async_status", {"jid": "123.456", "mode": "cleanup", "_async_dir": str(tmp_path)}),
        ("ansible.legacy.async_status", {"jid": "789.012", "mode": "cleanup", "_async_dir": "/remote/async"})]
