"""Watches every process's command line on this machine while a test runs, to prove that
secrets never reach argv (the node agent's restic runs here too, under kwok)."""
import os
import threading


class ArgvWatcher(object):
    def __init__(self, secrets, interval=0.02):
        self.secrets = [s.encode() for s in secrets if s]
        self.interval = interval
        self.leaks = []
        self.processes_seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def _loop(self):
        seen = set()
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                if pid not in seen:
                    seen.add(pid)
                    self.processes_seen += 1
                for secret in self.secrets:
                    if secret in cmdline:
                        self.leaks.append(cmdline.replace(b"\0", b" ")[:200])
            self._stop.wait(self.interval)
