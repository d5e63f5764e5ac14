"""Remote `pod stats`' rounds (husk.cli.remote_objects.pod_stats_report): which requests each
round makes, against a recording stand-in for the service (the rows themselves are checked
against a real service in tests/integration/test_remote_verbs.py)."""

from __future__ import annotations

from husk.cli.remote_objects import pod_stats_report

POD_A, POD_B = "a" * 64, "b" * 64
CTR_A, CTR_B, CTR_C = "1" * 64, "2" * 64, "3" * 64


_ZERO = dict.fromkeys(("CPU", "AvgCPU", "MemUsage", "MemLimit", "MemPerc", "NetInput", "NetOutput", "BlockInput",
                       "BlockOutput", "PIDs", "UpTime"), 0)


class Service:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def json(self, method: str, path: str, query=None):
        self.calls.append(path)
        if path == "/pods/json":
            return [{"Id": POD_A, "Containers": [{"Id": CTR_A, "Status": "running"},
                                                 {"Id": CTR_C, "Status": "exited"}]},
                    {"Id": POD_B, "Containers": [{"Id": CTR_B, "Status": "paused"}]}]
        if path.endswith("/json"):  # a pod's inspect
            return {"Id": POD_B if "podb" in path else POD_A, "Containers": []}
        assert path == "/containers/stats"
        return {"Stats": [{"ContainerID": ctr, "Name": ctr[:3], **_ZERO} for ctr in query["containers"]]}


def _pods(rows) -> list[str]:
    return sorted(row["Pod"] for row in rows)


def test_each_round_lists_the_pods_once_and_inspects_none():
    service = Service()
    report = pod_stats_report(service, ())
    for _ in range(3):
        rows, _ = report({})
        assert _pods(rows) == [POD_A[:12], POD_B[:12]]
    assert service.calls == ["/pods/json", "/containers/stats"] * 3


def test_named_pods_are_resolved_once():
    service = Service()
    report = pod_stats_report(service, ("podb",))
    assert len(service.calls) == 1  # the name, before the first round
    for _ in range(3):
        rows, _ = report({})
        assert _pods(rows) == [POD_B[:12]]
    assert service.calls[1:] == ["/pods/json", "/containers/stats"] * 3
