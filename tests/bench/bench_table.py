"""The table `make bench` prints at the end of a run, from its bench-results.json report."""


def print_table(r):
    rows = object_rows(r) if "n_objects" in r else []
    volume = r.get("volume")
    if volume:
        for name, figures in (("restic", volume), ("kopia", volume.get("kopia"))):
            if figures:
                rows += [("pod volume (%d MiB) %s, %s" % (volume["volume_mib"], name, step),
                          "node agent %s MB/s, plain %s %s MB/s (ratio %s)" % (
                              figures["node_agent_%s_mb_s" % step], name, figures["plain_%s_mb_s" % step],
                              figures[step + "_ratio"])) for step in ("backup", "restore")]
    rows += uploader_rows(r.get("uploaders"))
    width = max(len(row[0]) for row in rows) if rows else 0
    print("")
    for key, value in rows:
        print("%s  %s" % (key.ljust(width), value))
    print("(ratios are of figures measured in this one run; written to bench-results.json)")


def uploader_rows(u):
    if not u:
        return []
    rows = [("uploaders", "%s; %s; medians of %d alternated rounds" % (u["kopia_version"], u["restic_version"],
                                                                       u["rounds"]))]
    agent = u.get("node_agent_kopia")
    if agent:
        rows.append(("kopia %d MiB: node agent / plain" % agent["volume_mib"],
                     "k8s_backup %ss (the volume %s s by its records), plain kopia create + snapshot %ss: "
                     "ratio %s" % (agent["node_agent_seconds"], agent["node_agent_volume_rounds_seconds"],
                                   agent["plain_seconds"], agent["ratio"])))
    for key, label in (("random", "random data"), ("small_files", "small files")):
        data = u.get(key)
        if data:
            what = "%d MiB" % data["mib"] if key == "random" else "%d x %d B" % (data["files"], data["file_bytes"])
            for tool in ("kopia", "restic"):
                t = data[tool]
                rows.append(("%s (%s), %s" % (label, what, tool), "backup %ss, repository %.1f MB, peak %s MiB" % (
                    t["backup_seconds"], t["repository_bytes"] / 1e6, t["peak_rss_mib"])))
            rows.append(("  kopia / restic", "time %s, size %s, memory %s" % (
                data["kopia_time_over_restic"], data["kopia_size_over_restic"], data["kopia_memory_over_restic"])))
    return rows


def fixed_cost_rows(r):
    """The backup's fixed cost and main pass (tests/bench/fixed_split.py), when the run measured them."""
    if "backup_fixed_s" not in r:
        return []
    return [
        ("  a backup of nothing (fixed cost) / the floor of a Python module", "%s s / %s s" % (
            r["backup_fixed_s"], r["module_floor_s"])),
        ("  main pass (backup less fixed cost) / LIST limit", "%s (rounds %s)" % (
            r["backup_main_pass_ratio"], r["backup_main_pass_round_ratios"])),
        ("  best whole-run ratio at this size (floor only, LIST rate)", "%s" % r["backup_ratio_bound"]),
    ]


def object_rows(r):
    def fmt(value, unit=""):
        return "n/a" if value is None else ("%s%s" % (value, unit))
    rows = [
        ("objects", fmt(r["n_objects"])),
        ("raw LIST (backup limit)", fmt(r["list_limit_per_s"], " items/s")),
        ("k8s_backup", fmt(r["backup_per_s"], " items/s")),
        ("  backup / LIST limit", fmt(r["backup_ratio"])),
    ] + fixed_cost_rows(r) + [("  CPU s of a %s (medians)" % what, "client %s, kube-apiserver %s, etcd %s; %s cores busy; %s s waited for a quiet bed" % (
        c["client_cpu_s"], c["kube_apiserver_cpu_s"], c["etcd_cpu_s"], c["cores_busy"], c.get("quiet_wait_s", "n/a")))
        for what, c in (("raw LIST", r.get("list_cpu")), ("backup", r.get("backup_cpu")), ("raw CREATE", r.get("create_cpu")),
                        ("restore", r.get("restore_cpu")),
                        ("raw POST of the backup's items", r.get("raw_restore_cpu"))) if c] + [
        ("raw CREATE (restore limit)", fmt(r["create_limit_per_s"], " items/s (concurrency %s)" % r["create_concurrency"])),
        ("k8s_restore", fmt(r.get("restore_per_s"), " items/s")),
        ("  restore / CREATE limit", fmt(r.get("restore_ratio"))),
        ("  the same, round by round", fmt(r.get("restore_round_ratios"))),
        ("raw POST of the backup's items in its order (restore's own limit)", fmt(r.get("raw_restore_per_s"), " items/s")),
        ("  restore / its own limit", fmt(r.get("restore_same_items_ratio"))),
        ("  the same, round by round", fmt(r.get("restore_same_items_round_ratios"))),
        ("backup peak RSS", fmt(r["backup_peak_rss_mib"], " MiB (process tree: PSS %s MiB, RSS %s MiB)" % (
            r["backup_tree_pss_mib"], r["backup_tree_rss_mib"]))),
        ("restore peak RSS", fmt(r.get("restore_peak_rss_mib"), " MiB")),
    ]
    if "playbook_backup_s" in r:
        rows += [
            ("backup: module alone / one-task playbook / kubedr.backup.backup", "%s / %s / %s s" % (
                r["module_backup_s"], r["playbook_direct_backup_s"], r["playbook_backup_s"])),
            ("  kubedr.backup.backup / LIST limit", fmt(r["playbook_backup_ratio"])),
        ]
    if "playbook_restore_s" in r:
        rows += [
            ("restore: module alone / one-task playbook / kubedr.backup.restore", "%s / %s / %s s" % (
                r["module_restore_s"], r["playbook_direct_restore_s"], r["playbook_restore_s"])),
            ("  kubedr.backup.restore / CREATE limit", fmt(r["playbook_restore_ratio"])),
        ]
    if "velero" in r:
        rows += [
            ("Velero %s, defaults: backup / restore" % r["velero"]["version"], "%s s (%sx kubedr's) / %s s (%sx)" % (
                r["velero_backup_s"], r["velero_backup_ratio"], r["velero_restore_s"], r["velero_restore_ratio"])),
            ("Velero, %s: backup / restore" % r["velero"]["tuned_server_args"], "%s s (%sx) / %s s (%sx)" % (
                r["velero_tuned_backup_s"], r["velero_tuned_backup_ratio"], r["velero_tuned_restore_s"],
                r["velero_tuned_restore_ratio"])),
        ]
    for size, entry in sorted(r.get("rss_by_n", {}).items(), key=lambda kv: int(kv[0])):
        rows.append(("peak RSS at %s objects" % size, "backup %s MiB (tree PSS %s, RSS %s), restore %s MiB" % (
            entry["backup_peak_rss_mib"], entry["backup_tree_pss_mib"], entry["backup_tree_rss_mib"],
            entry.get("restore_peak_rss_mib", "n/a"))))
    return rows
