"""``make fuzz``: FUZZ_COUNT (default 100,000) mutated archives of a real backup made on the test bed,
restored in check mode through the real pipeline (see archive_fuzz.py for what each case asserts).

    make fuzz                                 # 100,000 cases from FUZZ_SEED (default: the date's)
    make fuzz FUZZ_SEED=7 FUZZ_COUNT=5000     # another sample
    make fuzz FUZZ_REPLAY=<seed>              # one case again, as a failure printed it

The seed backup's archive is kept in .testbed/fuzz-seed.tar.gz (and its namespace beside it), so that
a replay mutates exactly the archive the failing run did. Not part of CI (it takes minutes); CI
runs a seeded sample in tests/integration/test_reliability.py."""
import json
import os
import time

import archive_fuzz
import testbed

SAVED_ARCHIVE = os.path.join(testbed.TESTBED_DIR, "fuzz-seed.tar.gz")
SAVED_NAMESPACE = os.path.join(testbed.TESTBED_DIR, "fuzz-seed.json")


def seed_archive(bed, api_client, namespace, location):
    """(archive bytes, its namespace): the saved one for a replay, else a new backup (then saved)."""
    if os.environ.get("FUZZ_REPLAY") and os.path.exists(SAVED_ARCHIVE) and os.path.exists(SAVED_NAMESPACE):
        with open(SAVED_ARCHIVE, "rb") as handle, open(SAVED_NAMESPACE) as names:
            return handle.read(), json.load(names)["namespace"]
    archive_fuzz.make_seed_backup(bed, api_client, namespace, location, "seed")
    import boto3
    import botocore.config
    s3 = boto3.client("s3", endpoint_url=location["endpoint_url"], region_name="us-east-1",
                      aws_access_key_id=location["access_key"], aws_secret_access_key=location["secret_key"],
                      config=botocore.config.Config(s3={"addressing_style": "path"}))
    tarball = s3.get_object(Bucket=location["bucket"], Key=location["prefix"] + "/backups/seed/seed.tar.gz")["Body"].read()
    with open(SAVED_ARCHIVE, "wb") as handle, open(SAVED_NAMESPACE, "w") as names:
        handle.write(tarball)
        json.dump({"namespace": namespace}, names)
    return tarball, namespace


def test_mutated_archives_never_crash_escape_or_leave_their_namespace(bed, api_client, namespace, location):
    tarball, namespace = seed_archive(bed, api_client, namespace, location)
    entries = archive_fuzz.read_entries(tarball)
    discovery = archive_fuzz.recorded_discovery(bed)
    if os.environ.get("FUZZ_REPLAY"):
        case_seed = int(os.environ["FUZZ_REPLAY"])
        print("FUZZ_REPLAY=%d: %s" % (case_seed, archive_fuzz.mutated_archive(entries, case_seed)[1]))
        print(archive_fuzz.replay(entries, discovery, namespace, case_seed))
        return
    seed = int(os.environ.get("FUZZ_SEED") or time.strftime("%Y%m%d"))
    count = int(os.environ.get("FUZZ_COUNT") or 100000)
    print("FUZZ_SEED=%d FUZZ_COUNT=%d, %d entries in the seed archive (%s)" % (seed, count, len(entries), SAVED_ARCHIVE))
    started = time.monotonic()
    outcomes, failures = archive_fuzz.run_cases(entries, discovery, namespace, seed, count)
    print("%d cases in %.0f s: %s, %d failures" % (count, time.monotonic() - started, outcomes, len(failures)))
    assert not failures, "%d of %d cases failed; the first:\n%s" % (len(failures), count, failures[0])
