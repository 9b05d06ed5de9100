# -*- coding: utf-8 -*-
# Copyright: kubedr.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The action half of wait_for_run: poll an async job until it ends, printing the run's
progress line at each poll, and return the job's result as the task's.

An ``until`` loop over async_status shows ``FAILED - RETRYING`` at every poll and nothing about
the run; here each poll is async_status (the job) and the module half of wait_for_run (the
progress object), both on the target host, and one line on the controller's display."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import signal
import time

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible_collections.kubedr.backup.plugins.module_utils.adapter.runner import job_pid_file

display = Display()

JOB_KEYS = ("ansible_job_id", "finished", "started", "results_file", "erased")  # async_status' own bookkeeping
WAIT_ONLY_ARGS = ("jid", "poll_interval", "timeout")
PROGRESS_EVERY = 5.0  # seconds: how often a run rewrites its progress object (archive/progress.py)
# Most runs end within seconds: the job is checked every FAST_POLL seconds for its first FAST_FOR seconds,
# then every SLOW_POLL at most (never less often than the user's poll_interval). On the controller's own
# machine a check is a read of the job file, not a module run: every LOCAL_POLL seconds for the first
# FAST_FOR seconds (a small run is seen to end a tenth of a second after it did, not up to a second), then
# every FAST_POLL.
FAST_POLL, FAST_FOR, SLOW_POLL, LOCAL_POLL = 1.0, 10.0, 5.0, 0.1


def poll_delay(elapsed, interval, local=False):
    """Seconds until the next check of a job that has run ``elapsed`` seconds."""
    if local:
        return min(interval, LOCAL_POLL if elapsed < FAST_FOR else FAST_POLL)
    return min(interval, FAST_POLL if elapsed < FAST_FOR else SLOW_POLL)


def local_job_ended(job_file):
    """Whether the async job file on this machine holds the job's result: what async_status
    reads, without a module run per check (a partial or still-started file: no; a missing one: yes,
    async_status then says what is wrong)."""
    if not os.path.exists(job_file):
        return True
    try:
        with open(job_file) as handle:
            data = json.load(handle)
    except (IOError, OSError, ValueError):
        return False
    return isinstance(data, dict) and ("started" not in data or bool(data.get("finished")))


def elapsed_text(seconds):
    seconds = int(seconds)
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm%02ds" % (seconds // 60, seconds % 60)
    return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)


def forward_signals(pid_file):
    """While waiting, SIGTERM and SIGINT (ansible-playbook passes them to its workers: an AWX cancel,
    a CronJob stopped, ^C) go on to the job too, which runs in a session of its own and so would
    not get them: the run then records its cancellation. Returns the handlers to put back."""
    previous = dict((signum, signal.getsignal(signum)) for signum in (signal.SIGTERM, signal.SIGINT))

    def forward(signum, frame):
        try:
            with open(pid_file) as handle:
                os.kill(int(handle.read().strip()), signum)
        except (IOError, OSError, ValueError):
            pass  # the job has ended, or never wrote its pid
        handler = previous.get(signum)
        if callable(handler):
            handler(signum, frame)
        else:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    for signum in previous:
        signal.signal(signum, forward)
    return previous


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        jid = args.get("jid")
        try:
            interval = max(1, int(args.get("poll_interval", 10)))
            timeout = int(args.get("timeout", 86400))
        except (TypeError, ValueError):
            result.update(failed=True, msg="poll_interval and timeout must be whole numbers of seconds")
            return result
        if not jid or args.get("kind") not in ("backup", "restore") or not args.get("name"):
            result.update(failed=True, msg="wait_for_run needs jid, kind (backup or restore) and name")
            return result
        reader_args = dict((k, v) for k, v in args.items() if k not in WAIT_ONLY_ARGS)
        reader_args["jid"] = jid  # required by the module's argument spec; it reads no job
        async_dir = self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))
        previous_handlers = None
        local = getattr(self._connection, "transport", "").endswith("local")
        if local:  # the job's process is on this machine
            previous_handlers = forward_signals(job_pid_file(async_dir, args["kind"], args["name"]))
        try:
            return self._wait(result, task_vars, args, jid, async_dir, reader_args, interval, timeout, local)
        finally:
            for signum, handler in (previous_handlers or {}).items():
                signal.signal(signum, handler)

    def _wait(self, result, task_vars, args, jid, async_dir, reader_args, interval, timeout, local=False):
        started = time.monotonic()
        # The progress object changes at most every PROGRESS_EVERY seconds: the job is checked on the
        # poll_delay schedule, the object read (one more module run) at the user's interval, no more often.
        every = max(interval, PROGRESS_EVERY)
        next_read = started + every
        line, progress = None, None
        while True:
            # On this machine the job file is read directly; async_status (a module run) only once it ended.
            if not local or local_job_ended(os.path.join(async_dir, jid)):
                job = self._execute_module(module_name="ansible.legacy.async_status", task_vars=task_vars,
                                           module_args={"jid": jid, "_async_dir": async_dir})
                if job.get("finished") or (job.get("failed") and not job.get("started")):
                    break
            moment = time.monotonic()
            if moment >= next_read:
                next_read = moment + every
                read = self._execute_module(module_name="kubedr.backup.wait_for_run", task_vars=task_vars,
                                            module_args=reader_args)
                if read.get("failed"):
                    line = "%s %s: progress not readable now (%s)" % (args["kind"], args["name"], read.get("msg"))
                else:
                    line, progress = read.get("line"), read.get("progress")
                display.display("%s, %s elapsed" % (line, elapsed_text(moment - started)))
            if moment - started >= timeout:
                result.update(failed=True, line=line, progress=progress, ansible_job_id=jid,
                              msg="%s %s did not end within %ss; job %s keeps running until its async time is over"
                              % (args["kind"], args["name"], timeout, jid))
                return result
            time.sleep(poll_delay(moment - started, interval, local))  # the job runs in its own process meanwhile
        if job.get("finished"):
            self._clean_up(task_vars, jid, async_dir, local)
        result.update(dict((k, v) for k, v in job.items() if k not in JOB_KEYS))
        result.update(line=line, progress=progress)
        return result

    def _clean_up(self, task_vars, jid, async_dir, local):
        """Removes the ended job's file, as async_status' cleanup mode does; on this machine without a
        module run for it (0.3-0.5 CPU seconds each on a small machine)."""
        if local:
            try:
                os.unlink(os.path.join(async_dir, jid))
                return
            except OSError as error:
                if error.errno == errno.ENOENT:
                    return  # removed already: nothing is left to clean
                # not ours to remove (a job run with become): async_status runs as the job's user
        self._execute_module(module_name="ansible.legacy.async_status", task_vars=task_vars,
                             module_args={"jid": jid, "mode": "cleanup", "_async_dir": async_dir})
