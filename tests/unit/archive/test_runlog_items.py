"""A page's item lines written at once read as the lines written one by one."""
import io

from ansible_collections.kubedr.backup.plugins.module_utils.archive import runlog


def lines(write):
    log = runlog.RunLog("b1")
    write(log)
    out = io.BytesIO()
    log.copy_to(out)
    log.close()
    # The time field aside (a second may turn between the two logs).
    return [line.split(" ", 2)[2] for line in out.getvalue().decode().splitlines()]


def test_items_writes_the_lines_item_writes_for_each_name():
    names = [("shop", "a"), (None, "node-1"), ("other", "b c")]

    def one_by_one(log):
        for namespace, name in names:
            log.item("configmaps", namespace, name, True)

    together = lines(lambda log: log.items("configmaps", names, True))
    assert together == lines(one_by_one) and len(together) == 3
    assert together[1] == 'msg="Backed up item" backup=velero/b1 resource=configmaps name=node-1 additional=true'
    assert lines(lambda log: log.items("configmaps", [])) == []
