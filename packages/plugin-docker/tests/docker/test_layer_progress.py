"""Pull and push progress: the engine's per-layer byte counts become one total."""

from __future__ import annotations

from bakehouse_plugin_docker.engine import LayerBytes


def test_layer_bytes_sum_over_layers_and_finish_at_the_total() -> None:
    seen: list[tuple[int, int]] = []
    moved = LayerBytes(lambda done, total: seen.append((done, total)))
    moved.add({"status": "Downloading", "id": "a", "progressDetail": {"current": 10, "total": 100}})
    moved.add({"status": "Downloading", "id": "b", "progressDetail": {"current": 5, "total": 50}})
    moved.add({"status": "Downloading", "id": "a", "progressDetail": {"current": 100, "total": 100}})
    moved.add({"status": "Downloading", "id": "c", "progressDetail": {}})  # no size yet: ignored
    moved.add({"status": "Downloading", "progressDetail": {"current": 1, "total": 2}})  # no layer id
    moved.finish()
    assert seen == [(10, 100), (15, 150), (105, 150), (150, 150)]


def test_without_a_callback_nothing_is_counted() -> None:
    moved = LayerBytes(None)
    moved.add({"status": "Pushing", "id": "a", "progressDetail": {"current": 1, "total": 2}})
    moved.finish()
    assert moved.layers == {}
