"""Watches every process's command line on this machine while a test runs, to prove that
secrets never reach argv (the node agent's restic runs here too, under kwok)."""
import os

from testbed import BackgroundLoop


class ArgvWatcher(BackgroundLoop):
    interval = 0.02

    def __init__(self, secrets):
        super(ArgvWatcher, self).__init__()
        self.secrets = [s.encode() for s in secrets if s]
        self.leaks = []
        self._seen = set()

    @property
    def processes_seen(self):
        return len(self._seen)

    def tick(self):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            self._seen.add(pid)
            for secret in self.secrets:
                if secret in cmdline:
                    self.leaks.append(cmdline.replace(b"\0", b" ")[:200])
