"""People now per zone on MQTT: retained on <prefix>/<site>/cameras/<cam>/zones/<zone>/occupancy."""

from __future__ import annotations

from collections.abc import Callable

from tests.notify.conftest import Subscriber, make_config
from vigil.notify.broker import Mosquitto
from vigil.notify.dispatcher import Dispatcher
from vigil.store.db import Database
from vigil.topics import zone_occupancy_topic

TOPIC = "vigil/Test_Site/cameras/gate/zones/front_door/occupancy"


def test_zone_occupancy_is_retained_per_zone(
    db: Database, broker: Mosquitto, subscribers: Callable[..., Subscriber]
) -> None:
    assert zone_occupancy_topic("vigil", "Test Site", "gate", "front door") == TOPIC
    cfg = make_config(mqtt_port=broker.port)
    d = Dispatcher(db, cfg, poll_s=0.2)
    d.set_zone_occupancy("gate", "front door", 1)  # before the link is up: sent on connect
    d.start()
    try:
        assert d.mqtt is not None and d.mqtt.wait_connected(5)
        d.set_zone_occupancy("gate", "front door", 3)
        # published asynchronously: once another client has seen 3, the broker retains it
        watcher = subscribers(broker.port, [TOPIC], client_id="watcher")
        watcher.wait_for(lambda ms: any(m.json()["people"] == 3 for m in ms))
        late = subscribers(broker.port, [TOPIC], client_id="late")  # retained: still gets it
        (msg,) = late.wait_for(lambda ms: len(ms) == 1)
        assert msg.retain and msg.json()["people"] == 3 and "at" in msg.json()
        d.set_zone_occupancy("gate", "front door", 0)
        assert late.wait_for(lambda ms: len(ms) == 2)[-1].json()["people"] == 0
    finally:
        d.stop()
