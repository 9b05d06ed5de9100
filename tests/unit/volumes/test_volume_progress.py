"""Live volume progress from restic's JSON status lines."""
import json

from ansible_collections.kubedr.backup.plugins.module_utils.volumes.progress import (
    StatusLines,
    VolumeProgress,
    parse_status_line,
)


def status(done, total, remaining=None):
    return json.dumps({"message_type": "status", "percent_done": done / float(total), "bytes_done": done,
                       "total_bytes": total, "seconds_remaining": remaining}).encode() + b"\n"


def test_status_lines_split_across_chunks_update_the_volume():
    progress = VolumeProgress()
    progress.expect(2)
    feed = StatusLines(progress, "a")
    line = status(100, 400, 30)
    feed(line[:10])
    assert progress.document()[0]["bytesDone"] == 0
    feed(line[10:] + status(200, 400, 20)[:5])
    volumes, eta = progress.document()
    assert (volumes["bytesDone"], volumes["totalBytes"]) == (100, 400)
    assert eta is None  # the second volume has not started: its size is unknown
    feed(status(200, 400, 20)[5:])
    StatusLines(progress, "b")(status(10, 100, 50))
    volumes, eta = progress.document()
    assert (volumes["bytesDone"], volumes["totalBytes"], eta) == (210, 500, 50)
    progress.finish("a", 400)
    progress.finish("b", None, failed=True)
    volumes, eta = progress.document()
    assert volumes == {"total": 2, "done": 2, "failed": 1, "bytesDone": 400, "totalBytes": 400}
    assert eta is None


def test_other_lines_are_ignored():
    assert parse_status_line(b'{"message_type":"summary","snapshot_id":"abc"}') is None
    assert parse_status_line(b"not json") is None
    assert parse_status_line(b'{"message_type":"status","bytes_done":"x"}') is None
    assert parse_status_line(b'["status"]') is None
    assert parse_status_line(b'{"message_type":"status","bytes_done":5}') == (5, 0, None)


def test_sizes_known_beforehand_count_when_a_volume_ends():
    progress = VolumeProgress()
    progress.expect_sizes({"x": 1000, "y": 24})
    progress.finish("x")
    volumes, _eta = progress.document()
    assert volumes == {"total": 2, "done": 1, "failed": 0, "bytesDone": 1000, "totalBytes": 1024}


def test_an_endless_line_is_dropped_not_kept():
    progress = VolumeProgress()
    feed = StatusLines(progress, "a")
    feed(b"x" * (1 << 17))
    feed(b"\n" + status(1, 2))
    assert progress.document()[0]["bytesDone"] == 1
