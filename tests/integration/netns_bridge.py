"""TCP ports of this machine's loopback, reachable from a private network namespace.

Velero's node agent (like its server) serves controller-runtime's metrics on :8080 with no flag to
move it, so two node agents and a server cannot share one network namespace. Each node agent runs
in its own (`unshare --net`); the API server and MinIO stay reachable at their usual 127.0.0.1
addresses through a pair of forwarders joined by Unix sockets, which a network namespace does not
separate:

    inside the namespace: 127.0.0.1:<port>  ->  <dir>/<port>.sock   (`python netns_bridge.py DIR PORT...`)
    outside:              <dir>/<port>.sock ->  127.0.0.1:<port>    (`Outside(dir, ports)`, threads)
"""
import functools
import os
import socket
import sys
import threading


def pump(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener, connect, stop=None):
    """Accept on listener; join each connection to a new one from connect() in both directions."""
    while stop is None or not stop.is_set():
        try:
            client, _address = listener.accept()
        except OSError:
            return  # the listener was closed
        try:
            upstream = connect()
        except OSError:
            client.close()
            continue
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(source, target), daemon=True).start()


def socket_path(directory, port):
    return os.path.join(directory, "%d.sock" % port)


class Outside(object):
    """Threads forwarding <dir>/<port>.sock to 127.0.0.1:<port> for each port, until close()."""

    def __init__(self, directory, ports):
        self.listeners = []
        self.stop = threading.Event()
        for port in ports:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(socket_path(directory, port))
            listener.listen(64)
            self.listeners.append(listener)
            connect = functools.partial(socket.create_connection, ("127.0.0.1", port))
            threading.Thread(target=serve, args=(listener, connect, self.stop), daemon=True).start()

    def close(self):
        self.stop.set()
        for listener in self.listeners:
            listener.close()


def inside(directory, ports):
    """Listen on 127.0.0.1:<port> in this (new) network namespace for each port; forward to the sockets.
    Writes <dir>/ready once listening."""
    threads = []
    for port in ports:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)

        def connect(path=socket_path(directory, port)):
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(path)
            return upstream
        threads.append(threading.Thread(target=serve, args=(listener, connect), daemon=True))
    for thread in threads:
        thread.start()
    open(os.path.join(directory, "ready"), "w").close()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    inside(sys.argv[1], [int(port) for port in sys.argv[2:]])
