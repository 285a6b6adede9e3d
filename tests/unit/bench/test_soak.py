from bench.soak import Settings, _Log, report


def _log() -> _Log:
    log = _Log()
    log.triggers = [(1.0, 10.0), (2.0, 20.0), (31.0, 12.0), (32.0, 30.0)]
    log.fires = [(5.0, 3.0), (40.0, 4.0), (50.0, 5.0)]
    log.probes["update_one"] = [(0.0, 1.5), (33.0, 2.5)]
    log.rss = {"runner-svc": [(0.0, 60.0), (29.0, 62.0), (59.0, 80.0)], "mongo server": [(29.0, 100.0), (59.0, 150.0)]}
    log.cpu = {"runner-svc": [(0.0, 10.0), (29.0, 13.0), (59.0, 19.0)]}
    return log


def test_each_window_reports_what_its_samples_say() -> None:
    figures = report(_log(), [(3.0, 1.0), (33.0, 1.0), (34.0, 1.0)], Settings(seconds=60, window_seconds=30))
    first, second = figures["windows"]

    assert (first["triggers"], second["triggers"]) == (2, 2)
    assert (first["executions_finished"], second["executions_per_second"]) == (1, 0.1)
    assert (first["fires"], second["fire_lateness_ms"]["max"]) == (1, 5.0)
    assert second["db_probe_ms"]["update_one"]["p50"] == 2.5
    assert (first["rss_mb"], second["rss_mb"]) == (
        {"mongo server": 100.0, "runner-svc": 62.0},
        {"mongo server": 150.0, "runner-svc": 80.0},
    )
    assert (first["cpu_percent"], second["cpu_percent"]) == ({"runner-svc": 10.0}, {"runner-svc": 20.0})


def test_verdicts_compare_the_last_window_with_the_first() -> None:
    verdicts = report(_log(), [], Settings(seconds=60, window_seconds=30))["verdicts"]

    assert verdicts["windows_compared"] == [1, 2]
    assert verdicts["trigger_latency"] == {"p50_ratio": 1.2, "p99_ratio": 1.5, "within_limit": True}
    assert verdicts["rss"] == {"growth": {"runner-svc": 0.29}, "under_limit": False}


def test_the_embedded_servers_rss_is_shown_but_not_judged() -> None:
    log = _log()
    log.rss["runner-svc"] = [(29.0, 62.0), (59.0, 63.0)]

    verdicts = report(log, [], Settings(seconds=60, window_seconds=30))["verdicts"]

    assert verdicts["rss"]["under_limit"] is True
    assert verdicts["rss_servers_growth"] == {"mongo server": 0.5}
